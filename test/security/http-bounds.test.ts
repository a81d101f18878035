import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, startServer, type TestServer, waitFor } from '../helpers.js';
import { HS256_ENV, hsToken } from './support.js';

// Issue 10 item 3 and 12: what a client can make the server hold over HTTP before it is even
// authenticated: bodies refused before they are read, header / request time, connections, SSE
// streams per client.

let server: TestServer;
beforeAll(async () => {
  server = await startServer({
    ...HS256_ENV,
    HTTP_HEADERS_TIMEOUT_MS: '500',
    HTTP_REQUEST_TIMEOUT_MS: '1000',
  });
});
afterAll(async () => {
  await server.cleanup();
});

/** A raw TCP client: what it received once the server closed (or `untilText` arrived). */
function raw(port: number): { socket: Socket; received: () => string; closed: Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (chunk) => {
    text += chunk;
  });
  socket.on('error', () => {});
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(text)));
  return { socket, received: () => text, closed };
}

describe('slow requests are cut off', () => {
  it('a body that stalls is cut off by HTTP_REQUEST_TIMEOUT_MS (408, connection closed)', async () => {
    const token = await hsToken({ roles: ['viewer'] });
    const client = raw(server.port);
    client.socket.write(
      `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${token}\r\nContent-Length: 1000\r\n\r\n{"query":`,
    );
    const text = await client.closed;
    expect(text).toMatch(/^HTTP\/1\.1 408/);
  });

  it('headers that never end are cut off by HTTP_HEADERS_TIMEOUT_MS', async () => {
    const client = raw(server.port);
    client.socket.write('POST /graphql HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n');
    const text = await client.closed;
    expect(text).toMatch(/^HTTP\/1\.1 408/);
  });
});

describe('refused before the body is read', () => {
  it('answers 401 to a request without a valid token while the client still holds most of its body', async () => {
    for (const authorization of ['', 'Authorization: Bearer not-a-jwt\r\n']) {
      const client = raw(server.port);
      client.socket.write(
        `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${authorization}Content-Length: 1000000\r\n\r\n{"query":"`,
      );
      await waitFor(() => client.received().includes('UNAUTHENTICATED'));
      expect(client.received()).toMatch(/^HTTP\/1\.1 401/);
      expect(client.received()).toMatch(/connection: close/i);
      client.socket.destroy();
    }
  });

  it("answers 401 on an unconfigured vendor's webhook route before reading the body", async () => {
    const client = raw(server.port);
    client.socket.write(
      'POST /webhooks/livekit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"event":"',
    );
    await waitFor(() => client.received().includes('not configured'));
    expect(client.received()).toMatch(/^HTTP\/1\.1 401/);
    client.socket.destroy();
  });

  it('answers 413 to a declared length over the limit before reading the body', async () => {
    const token = await hsToken({ roles: ['viewer'] });
    const client = raw(server.port);
    client.socket.write(
      `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${token}\r\nContent-Length: 2000000\r\n\r\n{`,
    );
    await waitFor(() => client.received().includes('PAYLOAD_TOO_LARGE'));
    expect(client.received()).toMatch(/^HTTP\/1\.1 413/);
    client.socket.destroy();
  });
});

describe('connections (HTTP_MAX_CONNECTIONS)', () => {
  it('closes connections beyond the cap as they arrive, and serves again once one closes', async () => {
    const capped = await startServer({ HTTP_MAX_CONNECTIONS: '3' });
    try {
      const held = [raw(capped.port), raw(capped.port), raw(capped.port)];
      await Promise.all(held.map((client) => new Promise((resolve) => client.socket.once('connect', resolve))));
      await waitFor(() =>
        new Promise<number>((resolve) => capped.app.http.server.getConnections((_e, n) => resolve(n))).then(
          (n) => n === 3,
        ),
      );
      const extra = raw(capped.port);
      extra.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(await extra.closed).toBe('');
      held[0]?.socket.destroy();
      await held[0]?.closed;
      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${capped.port}/healthz`).catch(() => null))?.status === 200,
      );
      for (const client of held) client.socket.destroy();
    } finally {
      await capped.cleanup();
    }
  });
});

describe('CORS (CORS_ORIGINS)', () => {
  const ALLOWED = 'https://app.example.com';
  const EVIL = 'https://evil.example';
  const preflight = (url: string, origin: string) =>
    fetch(url, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
  const simple = (url: string, origin: string) =>
    fetch(url, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ providers { provider } }' }),
    });

  it('gives no cross-origin access by default, to any origin', async () => {
    const open = await startServer();
    try {
      for (const response of [await preflight(open.url, EVIL), await simple(open.url, EVIL)]) {
        expect(response.headers.get('access-control-allow-origin')).toBeNull();
        expect(response.headers.get('access-control-allow-credentials')).toBeNull();
      }
    } finally {
      await open.cleanup();
    }
  });

  it('allows exactly the listed origins, never with credentials', async () => {
    const listed = await startServer({ CORS_ORIGINS: `${ALLOWED}, https://other.example.com` });
    try {
      for (const response of [await preflight(listed.url, ALLOWED), await simple(listed.url, ALLOWED)]) {
        expect(response.headers.get('access-control-allow-origin')).toBe(ALLOWED);
        expect(response.headers.get('access-control-allow-credentials')).not.toBe('true');
      }
      for (const response of [await preflight(listed.url, EVIL), await simple(listed.url, EVIL)]) {
        expect(response.headers.get('access-control-allow-origin')).toBeNull();
      }
    } finally {
      await listed.cleanup();
    }
  });
});

describe('SSE subscriptions per client (SSE_MAX_SUBSCRIPTIONS_PER_CLIENT)', () => {
  it('refuses one more than the cap with TOO_MANY_SUBSCRIPTIONS, and accepts again once one ends', async () => {
    const capped = await startServer({ SSE_MAX_SUBSCRIPTIONS_PER_CLIENT: '2' });
    const sse = (signal?: AbortSignal) =>
      fetch(capped.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ query: 'subscription { livestreamChanged(roomId: "sse-cap") { status } }' }),
        signal,
      });
    const count = () => capped.app.services.events.subscriberCount;
    const base = count();
    try {
      const first = new AbortController();
      const open = [await sse(first.signal), await sse()];
      await waitFor(() => count() === base + 2);
      const extra = await sse();
      expect(await extra.text()).toContain('TOO_MANY_SUBSCRIPTIONS');
      first.abort();
      await waitFor(() => count() === base + 1);
      const again = new AbortController();
      await sse(again.signal);
      await waitFor(() => count() === base + 2);
      again.abort();
      await open[1]?.body?.cancel();
      // The GraphQL endpoint keeps answering.
      expect((await gql(capped.url, '{ providers { provider } }')).status).toBe(200);
    } finally {
      await capped.cleanup();
    }
  });
});
