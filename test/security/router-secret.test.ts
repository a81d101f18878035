import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, gql, START_LIVESTREAM, startServer, type TestServer, wsClient } from '../helpers.js';
import { rawSocket } from './support.js';

const SECRET = 'router-shared-secret-0123456789';
const HMS_WEBHOOK_SECRET = 'hms-dashboard-header-value';
const router = { 'x-subgraph-secret': SECRET };

let server: TestServer;

beforeAll(async () => {
  server = await startServer({
    SUBGRAPH_SECRET: SECRET,
    SANDBOX_STEP_MS: '60000',
    HMS_ACCESS_KEY: 'hms-key',
    HMS_APP_SECRET: 'hms-app-secret-for-the-router-test',
    HMS_API_URL: 'http://127.0.0.1:9',
    HMS_WEBHOOK_SECRET,
  });
});
afterAll(async () => {
  await server.cleanup();
});

describe('router-only access (SUBGRAPH_SECRET) over HTTP', () => {
  it('serves requests carrying x-subgraph-secret, _service and _entities included', async () => {
    const service = await gql(server.url, '{ _service { sdl } }', undefined, router);
    expect(service.status).toBe(200);
    expect(service.data?._service.sdl).toContain('type Livestream');
    const entities = await gql(
      server.url,
      'query($r: [_Any!]!) { _entities(representations: $r) { ... on Room { id } } }',
      { r: [{ __typename: 'Room', id: 'r1' }] },
      router,
    );
    expect(entities.data?._entities).toEqual([{ id: 'r1' }]);
  });

  it.each([
    ['no secret', {}],
    ['a wrong secret', { 'x-subgraph-secret': 'guess' }],
    ['a secret one character short', { 'x-subgraph-secret': SECRET.slice(0, -1) }],
  ])('refuses a request with %s: 401, _service and _entities included', async (_label, headers) => {
    for (const query of [
      '{ providers { provider } }',
      '{ _service { sdl } }',
      '{ _entities(representations: []) { __typename } }',
    ]) {
      const result = await gql(server.url, query, undefined, headers);
      expect(result.status).toBe(401);
      expect(result.data).toBeUndefined();
      expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    }
  });

  it('refuses mutations and GET requests without it too', async () => {
    const mutation = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'no-secret' } });
    expect(mutation.status).toBe(401);
    const get = await fetch(`${server.url}?query=${encodeURIComponent('{ providers { provider } }')}`, {
      headers: { 'graphql-require-preflight': '1' },
    });
    expect(get.status).toBe(401);
    const active = await gql(server.url, '{ activeLivestreams(roomId: "no-secret") { id } }', undefined, router);
    expect(active.data?.activeLivestreams).toEqual([]);
  });

  it('keeps /healthz and /readyz open', async () => {
    expect((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${server.port}/readyz`)).status).toBe(200);
  });

  it("leaves webhooks to their vendor's own check", async () => {
    const url = `http://127.0.0.1:${server.port}/webhooks/hms`;
    const body = JSON.stringify({
      version: '2.0',
      id: 'evt-1',
      app_id: 'app',
      account_id: 'account',
      timestamp: new Date().toISOString(),
      type: 'hls.started.success',
      data: { app_id: 'app', stream_id: 'unknown-stream', room_id: 'unknown-room', session_id: 's' },
    });
    const accepted = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hms-webhook-secret': HMS_WEBHOOK_SECRET },
      body,
    });
    expect(accepted.status).toBeLessThan(300);
    const refused = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hms-webhook-secret': 'wrong', ...router },
      body,
    });
    expect(refused.status).toBe(401);
    expect(await refused.text()).not.toContain('x-subgraph-secret');
  });
});

describe('router-only access over WebSocket', () => {
  it('accepts the secret as an upgrade header or in connectionParams', async () => {
    const byHeader = await rawSocket(server.wsUrl, { headers: router });
    expect(byHeader.outcome).toBe('ack');
    byHeader.socket.close();
    const byParams = await rawSocket(server.wsUrl, { params: router });
    expect(byParams.outcome).toBe('ack');
    byParams.socket.close();

    const client = wsClient(server.wsUrl, router);
    const watch = collect(client, 'subscription { livestreamChanged(roomId: "router-ws") { status } }');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await gql(server.url, START_LIVESTREAM, { input: { roomId: 'router-ws' } }, router);
    expect((await watch.waitFor(1))[0].livestreamChanged.status).toBe('STARTING');
    await client.dispose();
  });

  it.each([
    ['no secret', {}],
    ['a wrong secret in connectionParams', { params: { 'x-subgraph-secret': 'guess' } }],
    ['a wrong secret in the upgrade headers', { headers: { 'x-subgraph-secret': 'guess' } }],
  ])('closes a connection with %s: 4403', async (_label, options) => {
    const result = await rawSocket(server.wsUrl, options);
    expect(result.outcome).toBe('closed');
    expect(result.code).toBe(4403);
  });
});
