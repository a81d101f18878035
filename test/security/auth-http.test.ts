import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, START_LIVESTREAM, startServer, type TestServer } from '../helpers.js';
import { bearer, HS256_ENV, hsToken } from './support.js';

let server: TestServer;
let host: Record<string, string>;
let viewer: Record<string, string>;

beforeAll(async () => {
  server = await startServer({ ...HS256_ENV, SANDBOX_STEP_MS: '60000' });
  host = bearer(await hsToken({ roles: ['host'] }));
  viewer = bearer(await hsToken({ roles: ['viewer'] }));
});
afterAll(async () => {
  await server.cleanup();
});

const READ = '{ providers { provider } }';

describe('authentication over HTTP (AUTH_JWT_SECRET, HS256)', () => {
  it('serves a valid token, with or without the Bearer prefix', async () => {
    const withPrefix = await gql(server.url, READ, undefined, viewer);
    expect(withPrefix.status).toBe(200);
    expect(withPrefix.data?.providers).toHaveLength(6);
    const bare = await gql(server.url, READ, undefined, { authorization: await hsToken({ roles: ['viewer'] }) });
    expect(bare.status).toBe(200);
    expect(bare.errors).toBeUndefined();
  });

  it('refuses a request without a token: 401 and UNAUTHENTICATED', async () => {
    const result = await gql(server.url, READ);
    expect(result.status).toBe(401);
    expect(result.data).toBeUndefined();
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('refuses it before validating the query, so the schema stays hidden', async () => {
    const result = await gql(server.url, '{ secretsOfTheSchema }');
    expect(result.status).toBe(401);
    expect(JSON.stringify(result.errors)).not.toContain('secretsOfTheSchema');
  });

  it.each([
    ['garbage', async () => 'not.a.jwt'],
    [
      'signed with another secret',
      () => hsToken({ roles: ['host'], secret: 'another-secret-another-secret-another-secret' }),
    ],
    ['expired', () => hsToken({ roles: ['host'], expiresIn: Math.floor(Date.now() / 1000) - 60 })],
    ['from another issuer', () => hsToken({ roles: ['host'], issuer: 'https://evil.example/' })],
    ['for another audience', () => hsToken({ roles: ['host'], audience: 'someone-else' })],
  ])('refuses a token that is %s: 401 and UNAUTHENTICATED', async (_label, make) => {
    const result = await gql(server.url, READ, undefined, bearer(await make()));
    expect(result.status).toBe(401);
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(result.data).toBeUndefined();
  });

  it('guards subscriptions over SSE the same way', async () => {
    const subscribe = (headers: Record<string, string>, signal?: AbortSignal) =>
      fetch(server.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
        body: JSON.stringify({ query: 'subscription { livestreamChanged(roomId: "sse-auth") { id } }' }),
        signal,
      });
    const refused = await subscribe({});
    expect(refused.status).toBe(401);
    const abort = new AbortController();
    const allowed = await subscribe(viewer, abort.signal);
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('content-type')).toContain('text/event-stream');
    abort.abort();
  });

  it('says why an expired token is refused', async () => {
    const expired = await hsToken({ roles: ['host'], expiresIn: Math.floor(Date.now() / 1000) - 60 });
    const result = await gql(server.url, READ, undefined, bearer(expired));
    expect(result.errors?.[0]?.message).toMatch(/expired/i);
  });
});

describe('roles', () => {
  it('lets a host start and stop a livestream and see its stream key', async () => {
    const started = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'auth-host' } }, host);
    expect(started.status).toBe(200);
    expect(started.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    const livestream = started.data?.startLivestream.livestream;
    await new Promise((resolve) => setTimeout(resolve, 50));
    const read = await gql(
      server.url,
      'query($id: ID!) { livestream(id: $id) { id ingest { rtmpUrl streamKey } } }',
      { id: livestream.id },
      host,
    );
    expect(read.data?.livestream.ingest.streamKey).toMatch(/^sk_/);

    const stopped = await gql(
      server.url,
      'mutation($id: ID!) { stopLivestream(input: { id: $id }) { __typename } }',
      { id: livestream.id },
      host,
    );
    expect(stopped.data?.stopLivestream.__typename).toBe('StopLivestreamSuccess');
  });

  it("answers a viewer's mutation with the union's ForbiddenError, and starts nothing", async () => {
    const result = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'auth-viewer' } }, viewer);
    expect(result.status).toBe(200);
    expect(result.data?.startLivestream).toMatchObject({ __typename: 'ForbiddenError', code: 'FORBIDDEN' });
    const active = await gql(server.url, '{ activeLivestreams(roomId: "auth-viewer") { id } }', undefined, host);
    expect(active.data?.activeLivestreams).toEqual([]);

    for (const [name, mutation] of [
      ['stopLivestream', 'mutation { stopLivestream(input: { id: "x" }) { __typename ... on Error { code } } }'],
      ['startRecording', 'mutation { startRecording(input: { roomId: "r" }) { __typename ... on Error { code } } }'],
      ['stopRecording', 'mutation { stopRecording(input: { id: "x" }) { __typename ... on Error { code } } }'],
      [
        'setRoomAutomation',
        'mutation { setRoomAutomation(input: { roomId: "r", recordOn: NEVER }) { __typename ... on Error { code } } }',
      ],
    ] as const) {
      const refused = await gql(server.url, mutation, undefined, viewer);
      expect(refused.data?.[name], name).toEqual({ __typename: 'ForbiddenError', code: 'FORBIDDEN' });
    }
  });

  it('shows a viewer everything but the stream key, which is null', async () => {
    const started = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'auth-key' } }, host);
    const id = started.data?.startLivestream.livestream.id;
    const read = await gql(
      server.url,
      'query($id: ID!) { livestream(id: $id) { id status ingest { rtmpUrl streamKey } } }',
      { id },
      viewer,
    );
    expect(read.status).toBe(200);
    expect(read.errors).toBeUndefined();
    expect(read.data?.livestream).toMatchObject({ id, ingest: { rtmpUrl: expect.any(String), streamKey: null } });
    const asHost = await gql(
      server.url,
      'query($id: ID!) { livestream(id: $id) { ingest { streamKey } } }',
      { id },
      host,
    );
    expect(asHost.data?.livestream.ingest.streamKey).toMatch(/^sk_/);
  });

  it('refuses reads and _entities to a valid token that grants no role (FORBIDDEN), not _service', async () => {
    const nobody = bearer(await hsToken({ roles: ['admin'] }));
    const read = await gql(server.url, READ, undefined, nobody);
    expect(read.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const entities = await gql(
      server.url,
      'query($r: [_Any!]!) { _entities(representations: $r) { ... on Room { id livestreams { id } } } }',
      { r: [{ __typename: 'Room', id: 'auth-host' }] },
      nobody,
    );
    expect(entities.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    // The SDL is not data: any valid token may fetch it (composition tools do).
    const service = await gql(server.url, '{ _service { sdl } }', undefined, nobody);
    expect(service.data?._service.sdl).toContain('type Livestream');
    const allowed = await gql(
      server.url,
      'query($r: [_Any!]!) { _entities(representations: $r) { ... on Room { id livestreams { id } } } }',
      { r: [{ __typename: 'Room', id: 'auth-host' }] },
      viewer,
    );
    expect(allowed.errors).toBeUndefined();
    expect(allowed.data?._entities[0].livestreams).toHaveLength(1);
  });
});
