import { describe, expect, it } from 'vitest';
import { callbackUrlProblem, parseCallbackAllowList } from '../src/domain/callback-urls.js';

function policy(allow: string, production = false) {
  const entries = parseCallbackAllowList(allow);
  if (typeof entries === 'string') throw new Error(entries);
  return { allow: entries, production };
}

describe('callback URLs a router may give', () => {
  it('matches a URL prefix on scheme, host, port and whole path segments only', () => {
    const prefix = policy('https://router.internal:4001/callback');
    expect(callbackUrlProblem('https://router.internal:4001/callback/abc', prefix)).toBeNull();
    for (const url of [
      'https://router.internal:4001/callbackevil/abc',
      'http://router.internal:4001/callback/abc',
      'https://router.internal:40011/callback/abc',
      'https://router.internal.evil.com:4001/callback/abc',
      'https://router.internal:4001/other/abc',
    ]) {
      expect(callbackUrlProblem(url, prefix)).toMatch(/not allowed/);
    }
  });

  it('matches a host on any port, a host:port on that port only (the scheme default included)', () => {
    expect(callbackUrlProblem('http://ROUTER:9999/cb/1', policy('router'))).toBeNull();
    expect(callbackUrlProblem('http://router/cb/1', policy('router:80'))).toBeNull();
    expect(callbackUrlProblem('http://router:81/cb/1', policy('router:80'))).toMatch(/not allowed/);
  });

  it('refuses what is not an http(s) URL, credentials in it, and everything in production with no list', () => {
    expect(callbackUrlProblem('file:///etc/passwd', policy(''))).toMatch(/http or https/);
    expect(callbackUrlProblem('http://user:pw@router/cb', policy('router'))).toMatch(/credentials/);
    expect(callbackUrlProblem(`http://router/${'a'.repeat(3000)}`, policy('router'))).toMatch(/longer/);
    expect(callbackUrlProblem('http://anything/cb', policy(''))).toBeNull();
    expect(callbackUrlProblem('http://anything/cb', policy('', true))).toMatch(/off/);
  });
});
