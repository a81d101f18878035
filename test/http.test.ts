import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { collect, gql, START_LIVESTREAM, startServer, type TestServer, wsClient } from './helpers.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer({ SANDBOX_STEP_MS: '60000' });
});
afterAll(async () => {
  await server.cleanup();
});

async function post(body: string, contentType = 'application/json') {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': contentType, accept: 'application/graphql-response+json' },
    body,
  });
  return { status: response.status, type: response.headers.get('content-type'), body: await response.json() };
}

describe('GraphQL over HTTP answers bad requests, never crashes', () => {
  it('answers a body that is not JSON with 400 and a GraphQL error', async () => {
    const result = await post('{not json');
    expect(result.status).toBe(400);
    expect(result.type).toContain('application/graphql-response+json');
    expect(result.body.errors[0].message).toMatch(/JSON/i);
  });

  it('answers a malformed query with a syntax error', async () => {
    const result = await post(JSON.stringify({ query: '{ livestream(id: ' }));
    expect(result.status).toBe(400);
    expect(result.body.errors[0].message).toMatch(/Syntax Error/);
  });

  it('answers a request without a query with 400', async () => {
    const result = await post(JSON.stringify({ variables: {} }));
    expect(result.status).toBe(400);
    expect(result.body.errors[0].message).toMatch(/query/i);
  });

  it('answers an unknown field with a validation error naming it', async () => {
    const result = await post(JSON.stringify({ query: '{ livestreams { edges { node { nope } } } }' }));
    expect(result.status).toBe(400);
    expect(result.body.errors[0].message).toContain('nope');
    expect(result.body.data).toBeUndefined();
  });

  it('answers wrong variable types with 400', async () => {
    const result = await gql(server.url, START_LIVESTREAM, { input: { roomId: 42, video: { width: 'wide' } } });
    expect(result.status).toBe(400);
    expect(result.errors?.length).toBeGreaterThan(0);
  });

  it('keeps serving after all of that', async () => {
    const result = await gql(server.url, '{ providers { provider } }');
    expect(result.status).toBe(200);
    expect(result.data?.providers).toHaveLength(6);
  });

  it('serves GET queries', async () => {
    const response = await fetch(`${server.url}?query=${encodeURIComponent('{ providers { provider } }')}`, {
      // A GET must carry a header a browser would preflight (CSRF prevention, see test/security).
      headers: { accept: 'application/json', 'graphql-require-preflight': '1' },
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as any).data.providers).toHaveLength(6);
  });
});

describe('health', () => {
  it('answers /healthz and /readyz', async () => {
    const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`http://127.0.0.1:${server.port}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });
});

describe('WebSocket endpoints', () => {
  it('speaks graphql-transport-ws on /ws as on /graphql', async () => {
    // Subscribing `after` a position taken before the start makes the event arrive whether the
    // subscription is registered before or after the start commits (no sleep, no race).
    const before = await gql(
      server.url,
      'mutation { startLivestream(input: { roomId: "ws-path-before" }) { ... on StartLivestreamSuccess { livestream { changeCursor } } } }',
    );
    const client = wsClient(`ws://127.0.0.1:${server.port}/ws`);
    const watch = collect(
      client,
      'subscription ($after: String) { livestreamChanged(roomId: "ws-path", after: $after) { roomId status version } }',
      {
        after: before.data?.startLivestream.livestream.changeCursor,
      },
    );
    await gql(server.url, START_LIVESTREAM, { input: { roomId: 'ws-path' } });
    const [created] = await watch.waitFor(1);
    expect(created.livestreamChanged).toEqual({ roomId: 'ws-path', status: 'STARTING', version: 1 });
    await client.dispose();
  });

  it('refuses a WebSocket upgrade on another path', async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${server.port}/elsewhere`, 'graphql-transport-ws');
    const outcome = await new Promise<string>((resolve) => {
      socket.on('open', () => resolve('open'));
      socket.on('error', (error) => resolve(error.message));
    });
    expect(outcome).toMatch(/404/);
  });

  it('answers a subscription with an unknown id with an error', async () => {
    const client = wsClient(server.wsUrl);
    const watch = collect(client, 'subscription { livestreamChanged(id: "missing") { id } }');
    await watch.completed;
    expect(JSON.stringify(watch.errors)).toContain('No livestream with id missing');
    await client.dispose();
  });
});

describe('graceful shutdown', () => {
  it('completes subscriptions, closes sockets and the database within a few seconds', async () => {
    const local = await startServer({ SANDBOX_STEP_MS: '60000' });
    const started = await gql(local.url, START_LIVESTREAM, { input: { roomId: 'shutdown-room' } });
    const id = started.data?.startLivestream.livestream.id;
    const client = wsClient(local.wsUrl);
    const byId = collect(client, 'subscription($id: ID!) { livestreamChanged(id: $id) { id status } }', { id });
    const all = collect(client, 'subscription { livestreamChanged { id } }');
    await byId.waitFor(1);
    const sse = await fetch(local.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription { recordingChanged { id } }' }),
    });
    const sseText = sse.text();

    const began = Date.now();
    await local.stop();
    expect(Date.now() - began).toBeLessThan(5000);
    await byId.completed;
    await all.completed;
    expect(await sseText).toContain('event: complete');
    await expect(fetch(`http://127.0.0.1:${local.port}/healthz`)).rejects.toThrow();
    expect(await local.app.services.store.isReady()).toBe(false);
    await client.dispose();
    await local.cleanup();
  });
});
