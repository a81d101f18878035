import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import {
  gql,
  LIVESTREAM_FIELDS,
  START_LIVESTREAM,
  START_RECORDING,
  startServer,
  type TestServer,
  tempDir,
  testDatabaseUrl,
} from '../helpers.js';
import { bearer, HS256_ENV, hsToken, operate, rawSocket } from './support.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer({ SANDBOX_STEP_MS: '60000' });
});
afterAll(async () => {
  await server.cleanup();
});

/** Runs one operation over a raw graphql-ws socket; returns the first message for it. */
async function overWebSocket(url: string, query: string, params?: Record<string, unknown>) {
  const { socket, outcome } = await rawSocket(url, { params });
  expect(outcome).toBe('ack');
  const [first] = await operate(socket, '1', query);
  socket.close();
  return first;
}

/** An SSE subscription's whole response text (it ends after an error). */
async function sseText(url: string, query: string): Promise<string> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query }),
  });
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  return response.text();
}

const README_OPERATIONS = [
  `mutation { startLivestream(input: { roomId: "room-1", idempotencyKey: "demo-1" }) {
     __typename
     ... on StartLivestreamSuccess { livestream { id status version playbackUrl } }
     ... on Error { code message }
     ... on ConflictError { activeLivestream { id status } } } }`,
  `{ activeLivestreams(roomId: "room-1") { id status vendorStatus version
       history { status source version applied at } } }`,
];
const FULL_PAGE = `{ livestreams(first: 50) { edges { cursor node { ${LIVESTREAM_FIELDS}
  history { status vendorStatus source at version applied } } } pageInfo { hasNextPage endCursor } } }`;
const ENTITIES = `query($r: [_Any!]!) { _entities(representations: $r) {
  ... on Room { id activeLivestream { status } livestreams { ${LIVESTREAM_FIELDS} history { status version } }
    activeRecording { id status } recordings { id status assets { url } } automation { recordOn } }
  ... on Livestream { ${LIVESTREAM_FIELDS} } } }`;

describe('graphql-armor limits (defaults)', () => {
  it("allows the README's operations, the test suite's, a full page and a federation _entities batch", async () => {
    for (const query of [...README_OPERATIONS, FULL_PAGE]) {
      const result = await gql(server.url, query);
      expect(result.errors, query).toBeUndefined();
    }
    for (const [query, input] of [
      [START_LIVESTREAM, { roomId: 'limits-1' }],
      [START_RECORDING, { roomId: 'limits-1' }],
    ] as const) {
      expect((await gql(server.url, query, { input })).errors).toBeUndefined();
    }
    const representations = Array.from({ length: 50 }, (_, i) => ({ __typename: 'Room', id: `room-${i}` }));
    const entities = await gql(server.url, ENTITIES, { r: representations });
    expect(entities.errors).toBeUndefined();
    expect(entities.data?._entities).toHaveLength(50);
  });

  it('refuses more than 15 aliases, over HTTP and WebSocket', async () => {
    const aliases = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `a${i}: providers { provider }`).join(' ')} }`;
    expect((await gql(server.url, aliases(15))).errors).toBeUndefined();
    const refused = await gql(server.url, aliases(16));
    expect(refused.status).toBe(400);
    expect(refused.errors?.[0]?.message).toMatch(/aliases/i);
    const overWs = await overWebSocket(server.wsUrl, aliases(16));
    expect(overWs?.type).toBe('error');
    expect(JSON.stringify(overWs?.payload)).toMatch(/aliases/i);
    expect((await overWebSocket(server.wsUrl, aliases(15)))?.type).toBe('next');
  });

  it('refuses a query whose cost is above 20000, over HTTP and WebSocket', async () => {
    const pages = (n: number) =>
      `{ ${Array.from({ length: n }, (_, i) => `p${i}: ${FULL_PAGE.slice(2, -2)}`).join(' ')} }`;
    expect((await gql(server.url, pages(2))).errors).toBeUndefined();
    const refused = await gql(server.url, pages(5));
    expect(refused.status).toBe(400);
    expect(refused.errors?.[0]?.message).toMatch(/cost/i);
    expect(JSON.stringify((await overWebSocket(server.wsUrl, pages(5)))?.payload)).toMatch(/cost/i);
  });

  it('refuses more than 2000 tokens, over HTTP and WebSocket (the connection stays up)', async () => {
    const query = `{ providers { ${'provider '.repeat(2000)} } }`;
    const refused = await gql(server.url, query);
    expect(refused.status).toBe(400);
    expect(refused.errors?.[0]?.message).toMatch(/token limit/i);
    const { socket } = await rawSocket(server.wsUrl);
    const [overWs] = await operate(socket, '1', query);
    expect(overWs?.type).toBe('error');
    expect(JSON.stringify(overWs?.payload)).toMatch(/token limit/i);
    const [after] = await operate(socket, '2', '{ providers { provider } }');
    expect(after?.payload.data.providers).toHaveLength(6);
    socket.close();
  });

  it('refuses more than 50 directives, over HTTP and WebSocket', async () => {
    const directives = (n: number) => `{ providers { ${'provider @include(if: true) '.repeat(n)} } }`;
    expect((await gql(server.url, directives(2))).errors).toBeUndefined();
    const refused = await gql(server.url, directives(51));
    expect(refused.status).toBe(400);
    expect(refused.errors?.[0]?.message).toMatch(/directives/i);
    expect(JSON.stringify((await overWebSocket(server.wsUrl, directives(51)))?.payload)).toMatch(/directives/i);
  });

  it('refuses a query deeper than GRAPHQL_MAX_DEPTH, over HTTP and WebSocket', async () => {
    const shallow = await startServer({ GRAPHQL_MAX_DEPTH: '3' });
    try {
      expect((await gql(shallow.url, '{ livestreams { edges { cursor } } }')).errors).toBeUndefined();
      const deep = '{ livestreams { edges { node { id } } } }';
      const refused = await gql(shallow.url, deep);
      expect(refused.status).toBe(400);
      expect(refused.errors?.[0]?.message).toMatch(/depth/i);
      expect(JSON.stringify((await overWebSocket(shallow.wsUrl, deep))?.payload)).toMatch(/depth/i);
    } finally {
      await shallow.cleanup();
    }
  });
});

const INTROSPECTION = '{ __schema { queryType { name } } }';

describe('introspection and GraphiQL', () => {
  it('are on outside production', async () => {
    const result = await gql(server.url, INTROSPECTION);
    expect(result.data?.__schema.queryType.name).toBe('Query');
    const page = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('GraphiQL');
  });

  it('are off in production (HTTP and WebSocket), while _service still answers', async () => {
    const production = await startServer({ NODE_ENV: 'production', ...HS256_ENV });
    try {
      const token = await hsToken({ roles: ['viewer'] });
      const refused = await gql(production.url, INTROSPECTION, undefined, bearer(token));
      expect(refused.status).toBe(400);
      expect(refused.errors?.[0]?.message).toMatch(/introspection/i);
      const overWs = await overWebSocket(production.wsUrl, INTROSPECTION, { token });
      expect(JSON.stringify(overWs?.payload)).toMatch(/introspection/i);
      const service = await gql(production.url, '{ _service { sdl } }', undefined, bearer(token));
      expect(service.data?._service.sdl).toContain('type Livestream');
      const page = await fetch(production.url, { headers: { accept: 'text/html' } });
      expect(await page.text()).not.toContain('GraphiQL');
      // Field suggestions would leak what introspection hides.
      const typo = await gql(production.url, '{ provider { provider } }', undefined, bearer(token));
      expect(JSON.stringify(typo.errors)).not.toMatch(/Did you mean/);
    } finally {
      await production.cleanup();
    }
  });

  it('are on in production with GRAPHQL_INTROSPECTION=true', async () => {
    const production = await startServer({ NODE_ENV: 'production', ...HS256_ENV, GRAPHQL_INTROSPECTION: 'true' });
    try {
      const token = await hsToken({ roles: ['viewer'] });
      const result = await gql(production.url, INTROSPECTION, undefined, bearer(token));
      expect(result.data?.__schema.queryType.name).toBe('Query');
    } finally {
      await production.cleanup();
    }
  });
});

describe('CSRF prevention', () => {
  const getUrl = () => `${server.url}?query=${encodeURIComponent('{ providers { provider } }')}`;

  it('refuses a GET without a preflight header, and serves one with it', async () => {
    const refused = await fetch(getUrl(), { headers: { accept: 'application/json' } });
    expect(refused.status).toBe(403);
    for (const header of ['graphql-require-preflight', 'x-graphql-yoga-csrf', 'apollo-require-preflight']) {
      const allowed = await fetch(getUrl(), { headers: { accept: 'application/json', [header]: '1' } });
      expect(allowed.status, header).toBe(200);
    }
  });

  it('refuses a POST a form could send (text/plain, urlencoded, multipart), and serves JSON', async () => {
    const body = JSON.stringify({ query: '{ providers { provider } }' });
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const refused = await fetch(server.url, { method: 'POST', headers: { 'content-type': contentType }, body });
      expect(refused.status, contentType).toBe(403);
    }
    const allowed = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(allowed.status).toBe(200);
  });
});

describe('masked errors', () => {
  let app: App;
  let url: string;
  let wsUrl: string;
  const logs: { level: number; msg: string; err?: { message: string; stack?: string } }[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logs.push(JSON.parse(String(chunk)));
        done();
      },
    });
    app = await buildApp(
      loadConfig({
        PORT: '0',
        DATABASE_URL: await testDatabaseUrl(tempDir(), 'masked.sqlite'),
        SANDBOX_STEP_MS: '60000',
      }),
      pino(sink),
    );
    const port = await app.start();
    url = `http://127.0.0.1:${port}/graphql`;
    wsUrl = `ws://127.0.0.1:${port}/graphql`;
  });
  afterAll(async () => {
    await app.stop();
  });

  it('keeps typed domain errors visible', async () => {
    const invalid = await gql(url, START_LIVESTREAM, { input: { roomId: '' } });
    expect(invalid.data?.startLivestream).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION' });
    // The subscription's event stream fails (its snapshot read finds nothing): a typed error,
    // with its code, over WebSocket and SSE alike.
    const missing = await overWebSocket(wsUrl, 'subscription { livestreamChanged(id: "missing") { id } }');
    expect(missing?.type).toBe('error');
    expect(missing?.payload).toMatchObject([
      { message: 'No livestream with id missing', extensions: { code: 'NOT_FOUND' } },
    ]);
    const overSse = await sseText(url, 'subscription { livestreamChanged(id: "missing") { id } }');
    expect(overSse).toContain('No livestream with id missing');
    expect(overSse).toContain('"code":"NOT_FOUND"');
  });

  it('masks an unexpected error for the client (HTTP and WebSocket) and logs it in full', async () => {
    // Pull the database out from under the service: every read now fails unexpectedly.
    await app.services.store.close();
    const result = await gql(url, '{ livestreams { edges { node { id } } } }');
    expect(result.errors?.[0]?.message).toBe('Unexpected error.');
    expect(result.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(JSON.stringify(result)).not.toMatch(/database|sqlite|stack/i);
    const overWs = await overWebSocket(wsUrl, '{ livestreams { edges { node { id } } } }');
    expect(JSON.stringify(overWs?.payload)).toContain('Unexpected error.');
    expect(JSON.stringify(overWs?.payload)).not.toMatch(/database|sqlite/i);
    // A subscription whose event stream fails unexpectedly (its snapshot read): masked too.
    const subscription = 'subscription { livestreamChanged(id: "any") { id } }';
    const failedWs = await overWebSocket(wsUrl, subscription);
    expect(failedWs?.type).toBe('error');
    expect(failedWs?.payload).toMatchObject([
      { message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } },
    ]);
    expect(JSON.stringify(failedWs?.payload)).not.toMatch(/database|sqlite/i);
    const failedSse = await sseText(url, subscription);
    expect(failedSse).toContain('Unexpected error.');
    expect(failedSse).not.toMatch(/database|sqlite/i);
    const logged = logs.find((line) => line.level === 50 && /database/i.test(line.err?.message ?? ''));
    expect(logged?.err?.stack).toBeDefined();
  });
});
