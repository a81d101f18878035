import { createServer } from 'node:http';
import { MemPubSub } from '@graphql-hive/gateway';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, gql, startServer, type TestServer, waitFor, wsClient } from '../helpers.js';
import { composeAlone, listen, type RunningGateway, startGateway } from '../support/gateway.js';

/**
 * Hive Gateway taking our subscriptions with Apollo's HTTP callback protocol (its `http-callback`
 * transport): the gateway registers each subscription with a callback URL on itself, and our
 * subgraph POSTs check, next and complete there.
 */
const ROUTER_SECRET = 'router-secret-of-the-gateway-callback-test';
const JWT_SECRET = 'jwt-secret-of-the-gateway-callback-test-0123456789';

function token(roles: string[]): Promise<string> {
  return new SignJWT({ roles })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('gateway-callback-test')
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(JWT_SECRET));
}

async function freePort(): Promise<number> {
  const probe = createServer();
  const port = await listen(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

let livestreams: TestServer;
let gateway: RunningGateway;
let host: Record<string, string>;
let viewer: string;

beforeAll(async () => {
  const gatewayPort = await freePort();
  livestreams = await startServer({
    SANDBOX_STEP_MS: '100',
    SUBGRAPH_SECRET: ROUTER_SECRET,
    AUTH_JWT_SECRET: JWT_SECRET,
    CALLBACK_URL_ALLOW: `http://127.0.0.1:${gatewayPort}/callback`,
  });
  host = { authorization: `Bearer ${await token(['host'])}` };
  viewer = `Bearer ${await token(['viewer'])}`;
  const supergraph = await composeAlone(livestreams.url, { 'x-subgraph-secret': ROUTER_SECRET, ...host });
  process.env.SUBGRAPH_SECRET = ROUTER_SECRET;
  // The configuration the README documents for Hive Gateway in callback mode.
  gateway = await startGateway(
    supergraph,
    {
      headers: [
        ['x-subgraph-secret', '{env.SUBGRAPH_SECRET}'],
        ['authorization', '{context.headers.authorization}'],
      ],
      options: {
        subscriptions: {
          kind: 'http-callback',
          options: {
            public_url: `http://127.0.0.1:${gatewayPort}/callback`,
            path: '/callback',
            heartbeat_interval: 5000,
          },
        },
      },
    },
    { pubsub: new MemPubSub(), webhooks: true },
    gatewayPort,
  );
  await gql(gateway.url, '{ __typename }');
});

afterAll(async () => {
  delete process.env.SUBGRAPH_SECRET;
  await gateway?.close();
  await livestreams?.cleanup();
});

const START = `mutation($roomId: String!) { startLivestream(input: { roomId: $roomId }) {
  ... on StartLivestreamSuccess { livestream { id version } } } }`;
const STOP = 'mutation($id: ID!) { stopLivestream(input: { id: $id }) { __typename } }';

describe('Hive Gateway in callback mode', () => {
  it('carries livestreamChanged by id to its client through callbacks, and completes after the final state', async () => {
    const started = await gql(gateway.url, START, { roomId: 'gw-callback' }, host);
    const id = started.data?.startLivestream.livestream.id as string;
    const client = wsClient(gateway.wsUrl, { authorization: viewer });
    const changes = collect<{ livestreamChanged: { id: string; status: string; version: number } }>(
      client,
      'subscription($id: ID!) { livestreamChanged(id: $id) { id status version } }',
      { id },
    );
    await waitFor(
      async () => (await livestreams.app.services.store.callbacks.count()) === 1 || changes.errors.length > 0,
    );
    expect(changes.errors).toEqual([]);
    await waitFor(async () => (await livestreams.app.services.store.streams.get('livestream', id))?.status === 'LIVE');
    await gql(gateway.url, STOP, { id }, host);
    await changes.completed;
    await client.dispose();

    expect(changes.errors).toEqual([]);
    const versions = changes.events.map((e) => e.livestreamChanged.version);
    const final = await livestreams.app.services.store.streams.get('livestream', id);
    expect(versions).toEqual(
      Array.from({ length: (final?.version ?? 0) - (versions[0] ?? 0) + 1 }, (_, i) => (versions[0] ?? 0) + i),
    );
    expect(changes.events.at(-1)?.livestreamChanged.status).toBe('STOPPED');
    await waitFor(async () => (await livestreams.app.services.store.callbacks.count()) === 0);
  });

  it("refuses a subscription without the caller's token", async () => {
    const client = wsClient(gateway.wsUrl);
    const changes = collect(client, 'subscription { livestreamChanged(roomId: "gw-anon") { id } }');
    await changes.completed;
    await client.dispose();
    expect(JSON.stringify(changes.errors)).toContain('Authentication required');
    expect(await livestreams.app.services.store.callbacks.count()).toBe(0);
  });
});
