/**
 * Which callback URLs a router may ask this service to POST to (Apollo's HTTP callback protocol).
 * A callback URL is untrusted input: only http(s), no credentials in it, and only to what
 * `CALLBACK_URL_ALLOW` lists. An entry is a host (`router.internal`: any port; `router:4000`: that
 * port) or a URL prefix (`https://router.internal:4000/callback`: same scheme, host and port, and a
 * path under that one).
 */
export type CallbackAllowEntry =
  | { kind: 'host'; hostname: string; port: string | null }
  | { kind: 'prefix'; protocol: string; host: string; path: string };

export interface CallbackUrlPolicy {
  allow: readonly CallbackAllowEntry[];
  /** Production with an empty list: callbacks are off. Elsewhere an empty list allows any http(s) URL. */
  production: boolean;
}

/** Longest callback URL accepted. */
export const MAX_CALLBACK_URL_LENGTH = 2048;

/** Parses `CALLBACK_URL_ALLOW` (comma-separated); answers the entries, or the first bad one's problem. */
export function parseCallbackAllowList(text: string): CallbackAllowEntry[] | string {
  const entries: CallbackAllowEntry[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (!item) continue;
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(item)) {
      let url: URL;
      try {
        url = new URL(item);
      } catch {
        return `"${item}" is not a URL`;
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return `"${item}" must be an http(s) URL`;
      if (url.username || url.password || url.search || url.hash) {
        return `"${item}" must be a plain URL prefix (no credentials, query or fragment)`;
      }
      entries.push({ kind: 'prefix', protocol: url.protocol, host: url.host, path: url.pathname.replace(/\/+$/, '') });
      continue;
    }
    const match = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i.exec(item);
    if (!match?.[1]) return `"${item}" is neither a host[:port] nor an http(s) URL prefix`;
    entries.push({ kind: 'host', hostname: match[1].toLowerCase(), port: match[2] ?? null });
  }
  return entries;
}

/** Why a callback URL is refused, or null when it may be called. */
export function callbackUrlProblem(text: string, policy: CallbackUrlPolicy): string | null {
  if (text.length > MAX_CALLBACK_URL_LENGTH) return `callbackUrl is longer than ${MAX_CALLBACK_URL_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'callbackUrl is not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'callbackUrl must be an http or https URL';
  if (url.username || url.password) return 'callbackUrl must not carry credentials';
  if (policy.allow.length === 0) {
    return policy.production ? 'HTTP callback subscriptions are off (CALLBACK_URL_ALLOW is empty)' : null;
  }
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const allowed = policy.allow.some((entry) => {
    if (entry.kind === 'host') {
      return entry.hostname === url.hostname.toLowerCase() && (entry.port === null || entry.port === port);
    }
    if (entry.protocol !== url.protocol || entry.host !== url.host) return false;
    return entry.path === '' || url.pathname === entry.path || url.pathname.startsWith(`${entry.path}/`);
  });
  return allowed ? null : 'callbackUrl is not allowed (CALLBACK_URL_ALLOW)';
}
