import { BlockList, isIP } from 'node:net';
import { ValidationError } from './errors.js';

/**
 * Caller URLs that a vendor (or its browser recorder, inside the operator's network for a
 * self-hosted LiveKit) will open: checked before any vendor call.
 */
export interface UrlPolicy {
  /** Production: pages only over https. */
  production: boolean;
  /** ALLOW_PRIVATE_URLS: private, loopback and link-local hosts allowed (a lab, a test bench). */
  allowPrivate: boolean;
}

/** Longest caller URL accepted (a page, an RTMP push URL with its key). */
export const MAX_URL_LENGTH = 2048;

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local (cloud metadata endpoints)
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['::ffff:0:0', 96], // IPv4-mapped: whatever it maps to
  ['64:ff9b::', 96], // NAT64
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** True for a host that names this machine or a private network, in any spelling of an IP literal. */
export function isPrivateHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost') || host === '') return true;
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const family = isIP(bare);
  if (family === 4) return blocked.check(bare, 'ipv4');
  if (family === 6) return blocked.check(bare, 'ipv6');
  return false;
}

/**
 * The URL's host as a browser would resolve it: the WHATWG parser turns every IPv4 spelling
 * (`0x7f.1`, `2130706433`, `0177.0.0.1`) into dotted decimal, but only for http(s), so other
 * schemes are read as if they were http.
 */
function normalisedHost(url: URL): string | null {
  try {
    return new URL(`http://${url.host}`).hostname;
  } catch {
    return null;
  }
}

function parse(value: string, field: string): URL {
  if (value.length > MAX_URL_LENGTH) {
    throw new ValidationError(`${field}: must be at most ${MAX_URL_LENGTH} characters`, field);
  }
  try {
    return new URL(value);
  } catch {
    throw new ValidationError(`${field}: must be an absolute URL`, field);
  }
}

function checkHost(url: URL, field: string, policy: UrlPolicy): void {
  const host = normalisedHost(url);
  if (!host) throw new ValidationError(`${field}: must name a host`, field);
  if (!policy.allowPrivate && isPrivateHost(host)) {
    throw new ValidationError(
      `${field}: must not point at a private, loopback or link-local host (ALLOW_PRIVATE_URLS allows it)`,
      field,
    );
  }
}

/** A page a vendor's browser opens (`meetingUrl`): https, or http outside production. */
export function checkPageUrl(value: string | null | undefined, field: string, policy: UrlPolicy): void {
  if (value == null) return;
  const url = parse(value, field);
  const allowed = policy.production ? ['https:'] : ['https:', 'http:'];
  if (!allowed.includes(url.protocol)) {
    throw new ValidationError(`${field}: must be an ${policy.production ? 'https' : 'http(s)'} URL`, field);
  }
  checkHost(url, field, policy);
}

/**
 * Where a vendor pushes a stream (`destination`): an rtmp(s) URL, or, for vendors that name
 * destinations configured on their side (100ms), a plain name with no scheme.
 */
export function checkStreamDestination(value: string | null | undefined, field: string, policy: UrlPolicy): void {
  if (value == null || !/^[a-z][a-z0-9+.-]*:/i.test(value)) return;
  const url = parse(value, field);
  if (url.protocol !== 'rtmp:' && url.protocol !== 'rtmps:') {
    throw new ValidationError(`${field}: must be an rtmp:// or rtmps:// URL (or a destination name)`, field);
  }
  checkHost(url, field, policy);
}
