import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { gql, START_LIVESTREAM, tempDir, testDatabaseUrl } from './helpers.js';

// The service with its logs captured, to see that a bad representation logs no stack.
let app: App;
let url: string;
const logs: { level: number; msg?: string; err?: { stack?: string } }[] = [];

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
      DATABASE_URL: await testDatabaseUrl(tempDir(), 'entities.sqlite'),
      SANDBOX_STEP_MS: '60000',
    }),
    pino(sink),
  );
  const port = await app.start();
  url = `http://127.0.0.1:${port}/graphql`;
});
afterAll(async () => {
  await app.stop();
});
beforeEach(() => {
  logs.length = 0;
});

const ENTITIES = `query($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename
    ... on Livestream { id roomId }
    ... on Room { id }
  }
}`;

async function startedLivestream(roomId: string): Promise<string> {
  const started = await gql(url, START_LIVESTREAM, { input: { roomId } });
  const id = started.data?.startLivestream.livestream?.id;
  expect(id, JSON.stringify(started)).toEqual(expect.any(String));
  return id;
}

describe('_entities judges each representation alone', () => {
  it.each([
    ['an id of null', { __typename: 'Livestream', id: null }],
    ['no id', { __typename: 'Livestream' }],
    ['an id that is not a string', { __typename: 'Room', id: { nested: true } }],
    ['an empty id', { __typename: 'Room', id: '' }],
    ['true', true],
    ['a string', 'Livestream:1'],
    ['a list', [{ __typename: 'Livestream', id: 'x' }]],
    ['{}', {}],
    ['an unknown __typename', { __typename: 'Nope', id: 'x' }],
    ['a type that is not an entity', { __typename: 'Ingest', id: 'x' }],
    ['a __typename that is not a string', { __typename: 7, id: 'x' }],
  ])('answers the good ones and a client error with null for %s', async (_name, bad) => {
    const livestreamId = await startedLivestream(`entities-${Math.random().toString(36).slice(2)}`);
    const result = await gql(url, ENTITIES, {
      representations: [
        { __typename: 'Livestream', id: livestreamId },
        bad,
        { __typename: 'Room', id: 'room-after' },
        { __typename: 'Livestream', id: 'unknown-id' },
      ],
    });
    expect(result.status).toBe(200);
    expect(result.data?._entities).toEqual([
      { __typename: 'Livestream', id: livestreamId, roomId: expect.any(String) },
      null,
      { __typename: 'Room', id: 'room-after' },
      // An id that names nothing is not an error: the entity is simply not here.
      null,
    ]);
    expect(result.errors, JSON.stringify(result.errors)).toHaveLength(1);
    const [error] = result.errors ?? [];
    expect(error?.extensions?.code).toBe('VALIDATION');
    expect(error?.message).toMatch(/^Representation 1 /);
    expect((error as { path?: unknown[] } | undefined)?.path).toEqual(['_entities', 1]);
    expect(JSON.stringify(result.errors)).not.toMatch(/Unexpected error|stack|at .*\.js/);
    // A client's mistake is not the service's: nothing logged as an error, no stack.
    expect(logs.filter((line) => line.level >= 50)).toEqual([]);
  });

  it('names what is wrong with each bad representation', async () => {
    const result = await gql(url, ENTITIES, {
      representations: [
        { __typename: 'Livestream', id: null },
        true,
        {},
        { __typename: 'Nope', id: 'x' },
        { __typename: 'Room', id: 'x'.repeat(257) },
      ],
    });
    expect(result.data?._entities).toEqual([null, null, null, null, null]);
    expect(result.errors?.map((error) => error.message)).toEqual([
      'Representation 0 of _entities is invalid: id must be a non-empty string',
      'Representation 1 of _entities is invalid: it must be an object with __typename and id',
      'Representation 2 of _entities is invalid: __typename must name an entity of this subgraph',
      'Representation 3 of _entities is invalid: __typename must name an entity of this subgraph',
      'Representation 4 of _entities is invalid: id must be at most 256 characters',
    ]);
    expect(result.errors?.every((error) => error.extensions?.code === 'VALIDATION')).toBe(true);
    expect(logs.filter((line) => line.level >= 50)).toEqual([]);
  });

  it('still batches the good ones into one read per table', async () => {
    const ids = [await startedLivestream('entities-batch-1'), await startedLivestream('entities-batch-2')];
    let reads = 0;
    const stop = app.services.store.onStatement((sql) => {
      // Not the poller's schedule queries (its own timer, under a lease): only what the request reads.
      if (/^\s*select/i.test(sql) && sql.includes('from "livestreams"') && !sql.includes('"poll_lease_until" is null'))
        reads++;
    });
    try {
      const result = await gql(url, ENTITIES, {
        representations: [{ __typename: 'Livestream', id: ids[0] }, {}, { __typename: 'Livestream', id: ids[1] }],
      });
      expect(result.data?._entities.map((entity: { id?: string } | null) => entity?.id ?? null)).toEqual([
        ids[0],
        null,
        ids[1],
      ]);
    } finally {
      stop();
    }
    expect(reads).toBe(1);
  });
});
