import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers.js';
import { bearer, HS256_ENV, hsToken } from '../security/support.js';

const base = (server: TestServer) => `http://127.0.0.1:${server.port}`;

describe('the status page (outside production)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('is served at / with a strict content security policy and only its own resources', async () => {
    const page = await fetch(`${base(server)}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await page.text();
    // Nothing loaded from elsewhere, nothing inline.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/<script>|<style>| style="/);
    for (const [path, type] of [
      ['/status/app.js', 'text/javascript; charset=utf-8'],
      ['/status/app.css', 'text/css; charset=utf-8'],
    ]) {
      const asset = await fetch(`${base(server)}${path}`);
      expect(asset.status).toBe(200);
      expect(asset.headers.get('content-type')).toBe(type);
      expect(await asset.text()).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    }
    expect((await fetch(`${base(server)}/`, { method: 'POST' })).status).toBe(405);
  });

  it('answers the activity summary per vendor, open', async () => {
    const summary = await fetch(`${base(server)}/status/summary.json`);
    expect(summary.status).toBe(200);
    const body = (await summary.json()) as { minutes: number; vendors: { provider: string; calls: number[] }[] };
    expect(body.vendors.map((v) => v.provider)).toEqual(['SANDBOX', 'HMS', 'CLOUDFLARE', 'DYTE', 'TENBYTE', 'LIVEKIT']);
    expect(body.vendors[0]?.calls).toHaveLength(body.minutes);
  });
});

describe('the status page in production', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ NODE_ENV: 'production', ...HS256_ENV });
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('serves the page (which asks for a token) but no data without a valid viewer token', async () => {
    expect((await fetch(`${base(server)}/`)).status).toBe(200);
    const anonymous = await fetch(`${base(server)}/status/summary.json`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).not.toContain('SANDBOX');
    const forged = await fetch(`${base(server)}/status/summary.json`, {
      headers: bearer(await hsToken({ roles: ['viewer'], secret: 'another-secret-that-is-32-characters-long' })),
    });
    expect(forged.status).toBe(401);
    const nobody = await fetch(`${base(server)}/status/summary.json`, {
      headers: bearer(await hsToken({ roles: [] })),
    });
    expect(nobody.status).toBe(403);
    const viewer = await fetch(`${base(server)}/status/summary.json`, {
      headers: bearer(await hsToken({ roles: ['viewer'] })),
    });
    expect(viewer.status).toBe(200);
    // Streams themselves come from GraphQL, which wants the token too.
    const streams = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ activeLivestreams { id } }' }),
    });
    expect(streams.status).toBe(401);
  });
});
