import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { printSchema } from '../src/schema/index.js';
import { gql, START_LIVESTREAM, START_RECORDING, startServer, type TestServer } from './helpers.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer({ SANDBOX_STEP_MS: '60000' });
});
afterAll(async () => {
  await server.cleanup();
});

const ENTITIES = `query($representations: [_Any!]!) {
  _entities(representations: $representations) {
    __typename
    ... on Livestream { id roomId status }
    ... on Recording { id roomId recordingStatus: status }
    ... on Room { id activeLivestream { id } livestreams { id } activeRecording { id } recordings { id } automation { recordOn } }
  }
}`;

/**
 * Counts the SQL statements reading one table while `run` executes. The poller's own schedule
 * queries (they claim under a lease, on the poller's timer) are not the request's: on a busy
 * machine one of its ticks can fall inside the window.
 */
async function countReads(table: string, run: () => Promise<unknown>): Promise<number> {
  let count = 0;
  const stop = server.app.services.store.onStatement((sql) => {
    if (/^\s*select/i.test(sql) && sql.includes(`from "${table}"`) && !sql.includes('"poll_lease_until" is null'))
      count++;
  });
  try {
    await run();
  } finally {
    stop();
  }
  return count;
}

describe('federation subgraph', () => {
  it('serves its SDL through _service, the same as the committed schema.graphql', async () => {
    const result = await gql(server.url, '{ _service { sdl } }');
    const sdl: string = result.data?._service.sdl;
    expect(sdl).toContain('@link(url: "https://specs.apollo.dev/federation/v2.6"');
    expect(sdl).toContain('type Livestream');
    expect(sdl).toMatch(/type Livestream\s+@key\(fields: "id"\)/);
    expect(sdl).toMatch(/type Recording\s+@key\(fields: "id"\)/);
    expect(sdl).toMatch(/type Room\s+@key\(fields: "id"\)/);
    expect(`${sdl.trim()}\n`).toBe(readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8'));
  });

  it('resolves Livestream, Recording and Room entities, null for unknown ids', async () => {
    const livestream = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'entity-room' } });
    const recording = await gql(server.url, START_RECORDING, { input: { roomId: 'entity-room' } });
    const livestreamId = livestream.data?.startLivestream.livestream.id;
    const recordingId = recording.data?.startRecording.recording.id;
    await gql(
      server.url,
      'mutation { setRoomAutomation(input: { roomId: "entity-room", recordOn: FIRST_PEER_JOIN }) { __typename } }',
    );

    const result = await gql(server.url, ENTITIES, {
      representations: [
        { __typename: 'Livestream', id: livestreamId },
        { __typename: 'Recording', id: recordingId },
        { __typename: 'Room', id: 'entity-room' },
        { __typename: 'Livestream', id: 'unknown' },
      ],
    });
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    expect(result.data?._entities).toEqual([
      { __typename: 'Livestream', id: livestreamId, roomId: 'entity-room', status: 'STARTING' },
      { __typename: 'Recording', id: recordingId, roomId: 'entity-room', recordingStatus: 'STARTING' },
      {
        __typename: 'Room',
        id: 'entity-room',
        activeLivestream: { id: livestreamId },
        livestreams: [{ id: livestreamId }],
        activeRecording: { id: recordingId },
        recordings: [{ id: recordingId }],
        automation: { recordOn: 'FIRST_PEER_JOIN' },
      },
      null,
    ]);
  });

  it('resolves a batch of 50 representations with one query per table', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const started = await gql(server.url, START_LIVESTREAM, { input: { roomId: `batch-${i}` } });
      ids.push(started.data?.startLivestream.livestream.id);
    }
    let result: any;
    const livestreamReads = await countReads('livestreams', async () => {
      result = await gql(server.url, ENTITIES, {
        representations: ids.map((id) => ({ __typename: 'Livestream', id })),
      });
    });
    expect(result.data._entities.map((e: { id: string }) => e.id)).toEqual(ids);
    expect(livestreamReads).toBe(1);

    const rooms = ids.map((_, i) => ({ __typename: 'Room', id: `batch-${i}` }));
    const roomReads = await countReads('livestreams', async () => {
      result = await gql(server.url, ENTITIES, { representations: rooms });
    });
    expect(result.data._entities.every((room: any) => room.livestreams.length === 1)).toBe(true);
    expect(roomReads).toBe(1);

    const historyReads = await countReads('status_events', async () => {
      result = await gql(
        server.url,
        `query($r: [_Any!]!) { _entities(representations: $r) { ... on Livestream { history { version } } } }`,
        { r: ids.map((id) => ({ __typename: 'Livestream', id })) },
      );
    });
    expect(result.data._entities).toHaveLength(50);
    expect(historyReads).toBe(1);
  });
});

describe('schema.graphql', () => {
  it('is the SDL printed from code (run `npm run schema` after changing the schema)', () => {
    const committed = readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8');
    expect(committed).toBe(printSchema());
  });
});
