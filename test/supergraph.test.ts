import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { composeServices as composeWithApollo } from '@apollo/composition';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { createGatewayRuntime, type GatewayRuntime, getGraphQLWSOptions } from '@graphql-hive/gateway';
import { composeServices as composeWithGuild } from '@theguild/federation-composition';
import { type ConstDirectiveNode, type DocumentNode, Kind, type ObjectTypeDefinitionNode, parse } from 'graphql';
import { type Extra, useServer } from 'graphql-ws/use/ws';
import { createYoga } from 'graphql-yoga';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { collect, type GraphQLResponse, gql, startServer, type TestServer, waitFor, wsClient } from './helpers.js';

/**
 * A second subgraph, as another team would own it: rooms and their titles. Our subgraph adds the
 * livestreams and recordings of the same `Room` entity.
 */
const ROOMS: Record<string, { id: string; title: string }> = Object.fromEntries(
  ['room-a', 'room-b', 'room-c', 'room-d', 'room-e'].map((id, i) => [id, { id, title: `Room ${i + 1}` }]),
);

/** Our subgraph runs as in production: router secret required, callers' JWTs verified. */
const ROUTER_SECRET = 'router-secret-of-the-supergraph-test';
const JWT_SECRET = 'jwt-secret-of-the-supergraph-test-0123456789';

function token(roles: string[]): Promise<string> {
  return new SignJWT({ roles })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('supergraph-test')
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(JWT_SECRET));
}

const ROOMS_SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])
  type Query { rooms: [Room!]! }
  type Room @key(fields: "id") { id: ID! title: String! }
`;

async function startRoomsSubgraph(): Promise<{ url: string; close(): Promise<void> }> {
  const schema = buildSubgraphSchema({
    typeDefs: parse(ROOMS_SDL),
    resolvers: {
      Query: { rooms: () => Object.values(ROOMS) },
      Room: { __resolveReference: (ref: { id: string }) => ROOMS[ref.id] ?? null },
    },
  });
  const server = createServer(createYoga({ schema, logging: false }));
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}/graphql`, close: () => close(server) };
}

/** Hive Gateway in process, served over HTTP and graphql-ws the way its CLI serves it. */
async function startGateway(supergraph: string): Promise<{
  runtime: GatewayRuntime;
  url: string;
  wsUrl: string;
  close(): Promise<void>;
}> {
  // The configuration the README documents for Hive Gateway (it reads the secret from its own env).
  process.env.SUBGRAPH_SECRET = ROUTER_SECRET;
  const runtime = createGatewayRuntime({
    supergraph,
    logging: false,
    transportEntries: {
      livestreams: {
        // Queries and mutations (HTTP) carry the router secret...
        headers: [['x-subgraph-secret', '{env.SUBGRAPH_SECRET}']],
        options: {
          // ...subscriptions go over graphql-ws, with the secret and the caller's token in connectionParams.
          subscriptions: {
            kind: 'ws',
            location: '/graphql',
            options: {
              connectionParams: {
                'x-subgraph-secret': '{env.SUBGRAPH_SECRET}',
                token: '{context.headers.authorization}',
              },
            },
          },
        },
      },
    },
    // The caller's Authorization header goes on to our subgraph's HTTP requests.
    propagateHeaders: {
      fromClientToSubgraphs: ({ request, subgraphName }) =>
        subgraphName === 'livestreams' ? { authorization: request.headers.get('authorization') } : {},
    },
  });
  const server = createServer(runtime);
  const wss = new WebSocketServer({ server, path: runtime.graphqlEndpoint });
  const disposable = useServer(
    getGraphQLWSOptions<Record<string, unknown>, Extra>(runtime, (ctx) => ({
      req: ctx.extra.request,
      socket: ctx.extra.socket,
    })),
    wss,
  );
  const port = await listen(server);
  return {
    runtime,
    url: `http://127.0.0.1:${port}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    async close() {
      await disposable.dispose();
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await close(server);
      await runtime.dispose();
    },
  };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A type of a composed supergraph: the subgraphs that define it, and each field's subgraphs. */
function typeInSupergraph(supergraph: string, name: string): { graphs: string[]; fields: Record<string, string[]> } {
  const definition = parse(supergraph).definitions.find(
    (node): node is ObjectTypeDefinitionNode => node.kind === Kind.OBJECT_TYPE_DEFINITION && node.name.value === name,
  );
  if (!definition) throw new Error(`type ${name} is not in the supergraph`);
  const graphsOf = (directives: readonly ConstDirectiveNode[] | undefined, directive: string) =>
    (directives ?? [])
      .filter((node) => node.name.value === directive)
      .flatMap((node) => node.arguments ?? [])
      .flatMap((argument) =>
        argument.name.value === 'graph' && argument.value.kind === Kind.ENUM ? [argument.value.value] : [],
      );
  return {
    graphs: graphsOf(definition.directives, 'join__type'),
    fields: Object.fromEntries(
      (definition.fields ?? []).map((field) => [field.name.value, graphsOf(field.directives, 'join__field')]),
    ),
  };
}

/** What both compositions must produce: Room joined from both subgraphs, our subscription kept. */
function expectJoinedSupergraph(supergraph: string): void {
  const room = typeInSupergraph(supergraph, 'Room');
  expect(room.graphs.sort()).toEqual(['LIVESTREAMS', 'ROOMS']);
  expect(room.fields).toMatchObject({
    title: ['ROOMS'],
    activeLivestream: ['LIVESTREAMS'],
    livestreams: ['LIVESTREAMS'],
    activeRecording: ['LIVESTREAMS'],
  });
  expect(room.fields).toHaveProperty('id');
  expect(Object.keys(typeInSupergraph(supergraph, 'Query').fields)).toEqual(
    expect.arrayContaining(['rooms', 'livestream', 'activeLivestreams']),
  );
  expect(Object.keys(typeInSupergraph(supergraph, 'Subscription').fields)).toEqual(
    expect.arrayContaining(['livestreamChanged', 'recordingChanged']),
  );
}

interface JoinedRoom {
  id: string;
  title: string;
  activeLivestream: { status: string } | null;
  livestreams: { id: string }[];
}

let livestreams: TestServer;
/** What the router sends our subgraph directly: its secret and a host's token. */
let routerHeaders: Record<string, string>;
let host: Record<string, string>;
let viewerToken: string;
let rooms: Awaited<ReturnType<typeof startRoomsSubgraph>>;
let gateway: Awaited<ReturnType<typeof startGateway>>;
let services: { name: string; typeDefs: DocumentNode; url: string }[];
let apolloSupergraph: string;

beforeAll(async () => {
  // Fast sandbox steps, so a subscriber sees STARTING → LIVE within the test.
  livestreams = await startServer({
    SANDBOX_STEP_MS: '200',
    SUBGRAPH_SECRET: ROUTER_SECRET,
    AUTH_JWT_SECRET: JWT_SECRET,
  });
  host = { authorization: `Bearer ${await token(['host'])}` };
  viewerToken = await token(['viewer']);
  routerHeaders = { 'x-subgraph-secret': ROUTER_SECRET, ...host };
  rooms = await startRoomsSubgraph();
  const sdl = (await gql(livestreams.url, '{ _service { sdl } }', undefined, routerHeaders)).data?._service
    .sdl as string;
  services = [
    { name: 'livestreams', typeDefs: parse(sdl), url: livestreams.url },
    { name: 'rooms', typeDefs: parse(ROOMS_SDL), url: rooms.url },
  ];
  const composed = composeWithApollo(services);
  if (composed.errors) throw new Error(composed.errors.map((error) => error.message).join('\n'));
  apolloSupergraph = composed.supergraphSdl;
  gateway = await startGateway(apolloSupergraph);
});

afterAll(async () => {
  delete process.env.SUBGRAPH_SECRET;
  await gateway?.close();
  await rooms?.close();
  await livestreams?.cleanup();
});

describe('composition with a second subgraph that owns Room { id title }', () => {
  it('composes under @apollo/composition', () => {
    const composed = composeWithApollo(services);
    expect(composed.errors, composed.errors?.map((error) => error.message).join('\n')).toBeUndefined();
    expectJoinedSupergraph(composed.supergraphSdl ?? '');
  });

  it('composes under @theguild/federation-composition', () => {
    const composed = composeWithGuild(services);
    expect(composed.errors, composed.errors?.map((error) => error.message).join('\n')).toBeUndefined();
    expectJoinedSupergraph(composed.supergraphSdl ?? '');
  });
});

describe('Hive Gateway in front of both subgraphs', () => {
  it('joins rooms from one subgraph with their livestreams from ours', async () => {
    const start = `mutation { startLivestream(input: { roomId: "room-a" }) {
      __typename ... on StartLivestreamSuccess { livestream { id status } }
    } }`;
    // The gateway forwards the caller's token: without one our subgraph refuses...
    const refused = await gql(gateway.url, start);
    expect(refused.data?.startLivestream ?? null).toBeNull();
    expect(JSON.stringify(refused.errors)).toContain('UNAUTHENTICATED');
    // ...with a host's token it starts the stream.
    const started = await gql(gateway.url, start, undefined, host);
    expect(started.errors, JSON.stringify(started.errors)).toBeUndefined();
    expect(started.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');

    const result = await gql(gateway.url, '{ rooms { id title activeLivestream { status } } }', undefined, host);
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    const roomA = result.data?.rooms.find((room: { id: string }) => room.id === 'room-a');
    expect(roomA).toEqual({
      id: 'room-a',
      title: 'Room 1',
      activeLivestream: { status: expect.stringMatching(/^(STARTING|LIVE)$/) },
    });
    const roomB = result.data?.rooms.find((room: { id: string }) => room.id === 'room-b');
    expect(roomB).toEqual({ id: 'room-b', title: 'Room 2', activeLivestream: null });
  });

  it('resolves the Room entities of several rooms with one query per table', async () => {
    const batchRooms = ['room-b', 'room-c', 'room-d'];
    const ids: string[] = [];
    for (const roomId of batchRooms) {
      const started = await gql(
        livestreams.url,
        'mutation($roomId: String!) { startLivestream(input: { roomId: $roomId }) { ... on StartLivestreamSuccess { livestream { id } } } }',
        { roomId },
        routerHeaders,
      );
      ids.push(started.data?.startLivestream.livestream.id);
    }
    // Let the sandbox reach LIVE first, so only the gateway's query reads while we count.
    const store = livestreams.app.services.store;
    await waitFor(async () =>
      (await Promise.all(ids.map((id) => store.streams.get('livestream', id)))).every((s) => s?.status === 'LIVE'),
    );

    const reads: string[] = [];
    const stop = store.onStatement((sql) => {
      // Not the poller's schedule queries (its own timer, under a lease): only what the request reads.
      if (
        /^\s*select/i.test(sql) &&
        sql.includes('from "livestreams"') &&
        !sql.includes('"poll_lease_until" is null')
      ) {
        reads.push(sql);
      }
    });
    let result: GraphQLResponse<{ rooms: JoinedRoom[] }>;
    try {
      result = await gql(
        gateway.url,
        '{ rooms { id title activeLivestream { status } livestreams { id } } }',
        undefined,
        host,
      );
    } finally {
      stop();
    }
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    const joined = result.data?.rooms ?? [];
    expect(joined).toHaveLength(Object.keys(ROOMS).length);
    for (const [i, roomId] of batchRooms.entries()) {
      expect(joined.find((room) => room.id === roomId)).toEqual({
        id: roomId,
        title: ROOMS[roomId]?.title,
        activeLivestream: { status: 'LIVE' },
        livestreams: [{ id: ids[i] }],
      });
    }
    // Five rooms in one `_entities` call, two fields each: one statement for all of them.
    expect(reads).toHaveLength(1);
  });

  it('carries livestreamChanged from our subgraph over graphql-ws to a client of the gateway', async () => {
    // A viewer may subscribe; the token travels client → gateway → subgraph in connectionParams.
    const client = wsClient(gateway.wsUrl, { authorization: `Bearer ${viewerToken}` });
    const events = livestreams.app.services.events;
    // The service listens to its own events too; count only the gateway's subscription.
    const listenersBefore = events.subscriberCount;
    // The gateway reaches our subgraph over a WebSocket of its own (graphql-ws), not HTTP.
    const upgrades: string[] = [];
    const onUpgrade = (req: IncomingMessage) => upgrades.push(req.url ?? '');
    livestreams.app.http.server.on('upgrade', onUpgrade);
    try {
      const changes = collect<{ livestreamChanged: { id: string; roomId: string; status: string; version: number } }>(
        client,
        'subscription { livestreamChanged(roomId: "room-e") { id roomId status version } }',
      );
      // The gateway has opened the subscription on our subgraph before the stream exists.
      await waitFor(() => events.subscriberCount > listenersBefore);
      const started = await gql(
        gateway.url,
        `mutation { startLivestream(input: { roomId: "room-e" }) {
          ... on StartLivestreamSuccess { livestream { id } }
        } }`,
        undefined,
        host,
      );
      const id = started.data?.startLivestream.livestream.id as string;
      const statuses = () => changes.events.map((event) => event.livestreamChanged.status);
      await waitFor(() => statuses().includes('LIVE'));
      const stopped = await gql(
        gateway.url,
        'mutation($id: ID!) { stopLivestream(input: { id: $id }) { __typename } }',
        { id },
        host,
      );
      expect(stopped.data?.stopLivestream.__typename).toBe('StopLivestreamSuccess');
      await waitFor(() => statuses().includes('STOPPED'));
      changes.unsubscribe();

      expect(changes.errors).toEqual([]);
      const seen = changes.events.map((event) => event.livestreamChanged);
      expect(seen.every((change) => change.id === id && change.roomId === 'room-e')).toBe(true);
      // Every applied change arrives, in order (the vendor's id arriving is a change too).
      expect(seen.map((change) => change.version)).toEqual(seen.map((_, i) => i + 1));
      expect([...new Set(statuses())]).toEqual(['STARTING', 'LIVE', 'STOPPING', 'STOPPED']);
      expect(upgrades).toEqual(['/graphql']);
    } finally {
      livestreams.app.http.server.off('upgrade', onUpgrade);
      await client.dispose();
    }
  });
});

describe('federated tracing (ftv1)', () => {
  const query = '{ providers { provider configured } }';

  it('adds extensions.ftv1 when the router asks for it', async () => {
    const result = await fetch(livestreams.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'apollo-federation-include-trace': 'ftv1', ...routerHeaders },
      body: JSON.stringify({ query }),
    });
    const body = (await result.json()) as { data?: unknown; extensions?: { ftv1?: string } };
    expect(body.data).toBeDefined();
    expect(body.extensions?.ftv1).toEqual(expect.stringMatching(/^[A-Za-z0-9+/]+=*$/));
    // A protobuf Trace: its field nodes carry the response names as plain UTF-8.
    const trace = Buffer.from(body.extensions?.ftv1 ?? '', 'base64').toString('latin1');
    expect(trace).toContain('providers');
    expect(trace).toContain('configured');
  });

  it('adds no trace when the header is absent', async () => {
    const result = await fetch(livestreams.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...routerHeaders },
      body: JSON.stringify({ query }),
    });
    const body = (await result.json()) as { data?: unknown; extensions?: { ftv1?: string } };
    expect(body.data).toBeDefined();
    expect(body.extensions?.ftv1).toBeUndefined();
  });
});
