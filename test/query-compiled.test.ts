import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, START_LIVESTREAM, startServer, type TestServer } from './helpers.js';
import { bearer, HS256_ENV, hsToken } from './security/support.js';

// A query's first execution runs graphql-js, its next ones a compiled function (graphql-jit):
// the caller sees the same answer, byte for byte, either way.
let server: TestServer;
let host: Record<string, string>;
let viewer: Record<string, string>;
let id: string;

beforeAll(async () => {
  server = await startServer({ ...HS256_ENV, SANDBOX_STEP_MS: '60000' });
  host = bearer(await hsToken({ roles: ['host'] }));
  viewer = bearer(await hsToken({ roles: ['viewer'] }));
  for (const room of ['jit-a', 'jit-b', 'jit-c']) {
    const started = await gql(server.url, START_LIVESTREAM, { input: { roomId: room } }, host);
    id = started.data?.startLivestream.livestream.id;
  }
});
afterAll(async () => {
  await server.cleanup();
});

async function text(query: string, variables: Record<string, unknown> | undefined, headers: Record<string, string>) {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
}

const QUERIES: [string, string, Record<string, unknown>?][] = [
  [
    'every field of the active list',
    `{ activeLivestreams { id provider roomId externalId status vendorStatus version playbackUrl
      ingest { rtmpUrl streamKey whipUrl } failureReason startedAt stoppedAt createdAt updatedAt
      changeCursor history { version status } } }`,
  ],
  [
    'variables, aliases, fragments and __typename',
    `query Q($id: ID!, $room: String) { one: livestream(id: $id) { ...F } none: livestream(id: "missing") { id }
      list: activeLivestreams(roomId: $room) { ...F } }
      fragment F on Livestream { __typename id status ingest { streamKey } }`,
    { room: 'jit-b' },
  ],
  ['an error in a field', '{ activeLivestreams { id history(last: 100000) { version } } }'],
  [
    'entities of a union',
    'query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on Livestream { id status } ... on Room { id } } }',
    {
      r: [
        { __typename: 'Room', id: 'jit-a' },
        { __typename: 'Livestream', id: 'x' },
      ],
    },
  ],
  [
    'a variable inside a literal',
    'query($room: ID!) { _entities(representations: [{ __typename: "Room", id: $room }]) { ... on Room { id } } }',
    { room: 'jit-a' },
  ],
  ['a variable of the wrong type', 'query($id: ID!) { livestream(id: $id) { id } }', { id: { no: 1 } }],
];

describe('compiled queries', () => {
  for (const [name, query, variables] of QUERIES) {
    it(`answers ${name} the same on every execution`, async () => {
      const vars =
        variables && 'id' in variables ? variables : { ...variables, ...(query.includes('$id') ? { id } : {}) };
      const first = await text(query, vars, host);
      expect(first.status).toBe(first.body.includes('"data"') ? 200 : first.status);
      for (let i = 0; i < 3; i++) expect(await text(query, vars, host), JSON.stringify(first)).toEqual(first);
    });
  }

  it('keeps each caller’s rights in a compiled query', async () => {
    const query = '{ activeLivestreams { id ingest { streamKey } } }';
    await text(query, undefined, host);
    const compiled = JSON.parse((await text(query, undefined, host)).body);
    expect(compiled.data.activeLivestreams.every((s: any) => s.ingest.streamKey.startsWith('sk_'))).toBe(true);
    const asViewer = JSON.parse((await text(query, undefined, viewer)).body);
    expect(asViewer.data.activeLivestreams.map((s: any) => s.ingest.streamKey)).toEqual([null, null, null]);
  });
});
