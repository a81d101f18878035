import type { IncomingMessage } from 'node:http';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, gql, startServer, type TestServer, waitFor, wsClient } from '../helpers.js';
import { composeAlone, type RunningGateway, startGateway } from '../support/gateway.js';

/**
 * Hive Gateway's default transport to a subgraph's subscriptions: GraphQL over SSE (a GET with
 * `Accept: text/event-stream`). Our subgraph runs as in production: router secret, JWTs.
 */
const ROUTER_SECRET = 'router-secret-of-the-sse-router-test';
const JWT_SECRET = 'jwt-secret-of-the-sse-router-test-0123456789';

function token(roles: string[]): Promise<string> {
  return new SignJWT({ roles })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('sse-router-test')
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(JWT_SECRET));
}

let livestreams: TestServer;
let gateway: RunningGateway;
let host: Record<string, string>;
let viewer: string;
/** Subscription requests our subgraph received: method, Accept, and whether they upgraded. */
const received: { method: string; accept: string }[] = [];
let upgrades = 0;

beforeAll(async () => {
  livestreams = await startServer({
    SANDBOX_STEP_MS: '100',
    SUBGRAPH_SECRET: ROUTER_SECRET,
    AUTH_JWT_SECRET: JWT_SECRET,
  });
  host = { authorization: `Bearer ${await token(['host'])}` };
  viewer = `Bearer ${await token(['viewer'])}`;
  livestreams.app.http.server.prependListener('request', (req: IncomingMessage) => {
    if (req.headers.accept?.includes('text/event-stream')) {
      received.push({ method: req.method ?? '', accept: req.headers.accept });
    }
  });
  livestreams.app.http.server.on('upgrade', () => {
    upgrades++;
  });
  const supergraph = await composeAlone(livestreams.url, { 'x-subgraph-secret': ROUTER_SECRET, ...host });
  // The configuration the README documents for Hive Gateway's default (SSE) transport.
  process.env.SUBGRAPH_SECRET = ROUTER_SECRET;
  gateway = await startGateway(supergraph, {
    // The router secret, and the caller's token (from the client's HTTP headers or graphql-ws
    // connectionParams, which the gateway exposes as `context.headers`).
    headers: [
      ['x-subgraph-secret', '{env.SUBGRAPH_SECRET}'],
      ['authorization', '{context.headers.authorization}'],
    ],
  });
  // The gateway loads its supergraph on its first HTTP request; a WebSocket one finds none yet.
  await gql(gateway.url, '{ __typename }');
});

afterAll(async () => {
  delete process.env.SUBGRAPH_SECRET;
  await gateway?.close();
  await livestreams?.cleanup();
});

const START = `mutation($roomId: String!) { startLivestream(input: { roomId: $roomId }) {
  ... on StartLivestreamSuccess { livestream { id status version changeCursor } } } }`;
const STOP = 'mutation($id: ID!) { stopLivestream(input: { id: $id }) { __typename } }';

interface Change {
  livestreamChanged: { id: string; roomId: string; status: string; version: number; changeCursor: string };
}

describe('Hive Gateway taking our subscriptions over SSE', () => {
  it('carries livestreamChanged by room, over SSE from our subgraph, with the caller token forwarded', async () => {
    const before = received.length;
    const upgradesBefore = upgrades;
    const client = wsClient(gateway.wsUrl, { authorization: viewer });
    const events = livestreams.app.services.events;
    const listeners = events.subscriberCount;
    const changes = collect<Change>(
      client,
      'subscription { livestreamChanged(roomId: "sse-room") { id roomId status version changeCursor } }',
    );
    await waitFor(() => events.subscriberCount > listeners || changes.errors.length > 0);
    expect(changes.errors).toEqual([]);
    const started = await gql(gateway.url, START, { roomId: 'sse-room' }, host);
    const id = started.data?.startLivestream.livestream.id as string;
    await waitFor(() => changes.events.some((e) => e.livestreamChanged.status === 'LIVE'));
    expect((await gql(gateway.url, STOP, { id }, host)).data?.stopLivestream.__typename).toBe('StopLivestreamSuccess');
    await waitFor(() => changes.events.some((e) => e.livestreamChanged.status === 'STOPPED'));
    changes.unsubscribe();
    await client.dispose();

    expect(changes.errors).toEqual([]);
    const seen = changes.events.map((e) => e.livestreamChanged);
    expect(seen.every((change) => change.id === id && change.roomId === 'sse-room')).toBe(true);
    expect(seen.map((change) => change.version)).toEqual(seen.map((_, i) => i + 1));
    // The gateway reached our subgraph with an SSE request (a GET), not a WebSocket.
    expect(received.slice(before)).toEqual([{ method: 'GET', accept: 'text/event-stream' }]);
    expect(upgrades).toBe(upgradesBefore);
  });

  it('carries livestreamChanged by id resumed with after: only the changes after the cursor, then completes', async () => {
    const started = await gql(
      livestreams.url,
      START,
      { roomId: 'sse-after' },
      {
        'x-subgraph-secret': ROUTER_SECRET,
        ...host,
      },
    );
    const { id, version, changeCursor } = started.data!.startLivestream.livestream as {
      id: string;
      version: number;
      changeCursor: string;
    };
    // Changes made while nobody listens: the vendor's id, LIVE, then a stop.
    await waitFor(async () => (await livestreams.app.services.store.streams.get('livestream', id))?.status === 'LIVE');
    await gql(gateway.url, STOP, { id }, host);
    await waitFor(
      async () => (await livestreams.app.services.store.streams.get('livestream', id))?.status === 'STOPPED',
    );

    const client = wsClient(gateway.wsUrl, { authorization: viewer });
    const changes = collect<Change>(
      client,
      'subscription($id: ID!, $after: String) { livestreamChanged(id: $id, after: $after) { id status version changeCursor } }',
      { id, after: changeCursor },
    );
    await changes.completed;
    await client.dispose();
    expect(changes.errors).toEqual([]);
    const versions = changes.events.map((e) => e.livestreamChanged.version);
    const current = await livestreams.app.services.store.streams.get('livestream', id);
    // The versions after the cursor's up to the final one: none at or before it, none missing.
    const final = current?.version ?? 0;
    expect(versions).toEqual(Array.from({ length: final - version }, (_, i) => version + 1 + i));
    expect(changes.events.at(-1)?.livestreamChanged.status).toBe('STOPPED');
  });

  it('refuses the subscription through the gateway when the caller sends no token', async () => {
    const client = wsClient(gateway.wsUrl);
    const changes = collect<Change>(client, 'subscription { livestreamChanged(roomId: "sse-anon") { id } }');
    await changes.completed;
    await client.dispose();
    expect(JSON.stringify(changes.errors)).toContain('UNAUTHENTICATED');
  });
});

describe('CSRF prevention and routers', () => {
  const subscribeUrl = () =>
    `${livestreams.url}?query=${encodeURIComponent('subscription { livestreamChanged(roomId: "csrf") { id } }')}`;

  it('refuses a browser-like SSE GET (no header a browser would preflight), and lets the same GET with the router header through', async () => {
    // A service without router secret or auth: only CSRF prevention stands between a page and it.
    const open = await startServer();
    try {
      const url = `${open.url}?query=${encodeURIComponent('subscription { livestreamChanged(roomId: "csrf") { id } }')}`;
      const refused = await fetch(url, { headers: { accept: 'text/event-stream' } });
      expect(refused.status).toBe(403);
      expect(await refused.text()).toContain('CSRF');
      // A custom header makes a browser preflight the request: a router's header is one.
      const router = await fetch(url, { headers: { accept: 'text/event-stream', 'x-subgraph-secret': 'any' } });
      expect(router.status).toBe(200);
      expect(router.headers.get('content-type')).toContain('text/event-stream');
      await router.body?.cancel();
    } finally {
      await open.cleanup();
    }
  });

  it("lets a router's SSE GET through: it carries the router secret header", async () => {
    const response = await fetch(subscribeUrl(), {
      headers: { accept: 'text/event-stream', 'x-subgraph-secret': ROUTER_SECRET, ...host },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    await response.body?.cancel();
  });
});
