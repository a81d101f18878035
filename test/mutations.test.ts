import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  gql,
  START_LIVESTREAM,
  START_RECORDING,
  STOP_LIVESTREAM,
  STOP_RECORDING,
  startServer,
  type TestServer,
  waitFor,
} from './helpers.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer({ SANDBOX_STEP_MS: '60000' });
});
afterAll(async () => {
  await server.cleanup();
});

async function countInRoom(kind: 'livestreams' | 'recordings', roomId: string): Promise<number> {
  const result = await gql(
    server.url,
    `query($room: String) { ${kind}(roomId: $room, first: 100) { edges { node { id } } } }`,
    {
      room: roomId,
    },
  );
  return result.data?.[kind].edges.length;
}

describe('conflicts', () => {
  it('refuses a second active livestream in the same room and provider, carrying the active one', async () => {
    const first = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'conflict-room' } });
    expect(first.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    const second = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'conflict-room', provider: 'SANDBOX' } });
    expect(second.data?.startLivestream).toMatchObject({
      __typename: 'ConflictError',
      code: 'CONFLICT',
      activeLivestream: { id: first.data?.startLivestream.livestream.id },
    });
    expect(await countInRoom('livestreams', 'conflict-room')).toBe(1);
  });

  it('lets 20 concurrent starts for one room make exactly one stream', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => gql(server.url, START_LIVESTREAM, { input: { roomId: 'race-room' } })),
    );
    const kinds = results.map((r) => r.data?.startLivestream.__typename);
    expect(kinds.filter((k) => k === 'StartLivestreamSuccess')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'ConflictError')).toHaveLength(19);
    const winner = results.find((r) => r.data?.startLivestream.__typename === 'StartLivestreamSuccess');
    for (const result of results) {
      if (result.data?.startLivestream.__typename === 'ConflictError') {
        expect(result.data.startLivestream.activeLivestream.id).toBe(winner?.data?.startLivestream.livestream.id);
      }
    }
    expect(await countInRoom('livestreams', 'race-room')).toBe(1);
  });

  it('refuses a second active recording, and allows a new one once the first is final', async () => {
    const first = await gql(server.url, START_RECORDING, { input: { roomId: 'rec-conflict' } });
    const id = first.data?.startRecording.recording.id;
    const second = await gql(server.url, START_RECORDING, { input: { roomId: 'rec-conflict' } });
    expect(second.data?.startRecording).toMatchObject({ __typename: 'ConflictError', activeRecording: { id } });
    // A livestream in the same room is not a conflict with a recording.
    const livestream = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'rec-conflict' } });
    expect(livestream.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
  });

  it('allows a new livestream in a room once the previous one has stopped', async () => {
    const fast = await startServer({ SANDBOX_STEP_MS: '20' });
    try {
      const first = await gql(fast.url, START_LIVESTREAM, { input: { roomId: 'again' } });
      const id = first.data?.startLivestream.livestream.id;
      await waitFor(async () => {
        const r = await gql(fast.url, 'query($id: ID!) { livestream(id: $id) { status } }', { id });
        return r.data?.livestream.status === 'LIVE';
      });
      await gql(fast.url, STOP_LIVESTREAM, { id });
      await waitFor(async () => {
        const r = await gql(fast.url, 'query($id: ID!) { livestream(id: $id) { status } }', { id });
        return r.data?.livestream.status === 'STOPPED';
      });
      const second = await gql(fast.url, START_LIVESTREAM, { input: { roomId: 'again' } });
      expect(second.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
      expect(second.data?.startLivestream.livestream.id).not.toBe(id);
    } finally {
      await fast.cleanup();
    }
  });
});

describe('idempotency', () => {
  it('answers the same stream for the same idempotencyKey, with no second start', async () => {
    const input = { roomId: 'idem-room', idempotencyKey: 'key-1' };
    const first = await gql(server.url, START_LIVESTREAM, { input });
    const again = await gql(server.url, START_LIVESTREAM, { input });
    expect(again.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    expect(again.data?.startLivestream.livestream.id).toBe(first.data?.startLivestream.livestream.id);
    expect(again.data?.startLivestream.livestream.externalId).toBe(first.data?.startLivestream.livestream.externalId);
    expect(await countInRoom('livestreams', 'idem-room')).toBe(1);
  });

  it('answers one stream to 20 concurrent starts with the same key', async () => {
    const input = { roomId: 'idem-race', idempotencyKey: 'key-race' };
    const results = await Promise.all(Array.from({ length: 20 }, () => gql(server.url, START_LIVESTREAM, { input })));
    const ids = new Set(results.map((r) => r.data?.startLivestream.livestream?.id));
    expect(results.every((r) => r.data?.startLivestream.__typename === 'StartLivestreamSuccess')).toBe(true);
    expect(ids.size).toBe(1);
    expect(await countInRoom('livestreams', 'idem-race')).toBe(1);
  });

  it('refuses a key already used for another room with ConflictError', async () => {
    await gql(server.url, START_RECORDING, { input: { roomId: 'idem-a', idempotencyKey: 'key-2' } });
    const other = await gql(server.url, START_RECORDING, { input: { roomId: 'idem-b', idempotencyKey: 'key-2' } });
    expect(other.data?.startRecording).toMatchObject({ __typename: 'ConflictError', code: 'CONFLICT' });
    expect(other.data?.startRecording.message).toContain('idempotencyKey');
  });
});

describe('typed errors', () => {
  it('answers ValidationError for an empty roomId, naming the field, and stores nothing', async () => {
    const result = await gql(server.url, START_LIVESTREAM, { input: { roomId: '   ' } });
    expect(result.data?.startLivestream).toMatchObject({
      __typename: 'ValidationError',
      code: 'VALIDATION',
      field: 'roomId',
    });
    expect(await countInRoom('livestreams', '   ')).toBe(0);
  });

  it('answers ValidationError for a video width of 0', async () => {
    const result = await gql(server.url, START_LIVESTREAM, {
      input: { roomId: 'v-room', video: { width: 0, height: 720 } },
    });
    expect(result.data?.startLivestream).toMatchObject({ __typename: 'ValidationError', field: 'video.width' });
    const recording = await gql(server.url, START_RECORDING, {
      input: { roomId: 'v-room', resolution: { width: 1280, height: -1 } },
    });
    expect(recording.data?.startRecording).toMatchObject({ __typename: 'ValidationError', field: 'resolution.height' });
    expect(await countInRoom('livestreams', 'v-room')).toBe(0);
  });

  it('answers ValidationError for a malformed meetingUrl', async () => {
    const result = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'u-room', meetingUrl: 'not a url' } });
    expect(result.data?.startLivestream).toMatchObject({ __typename: 'ValidationError', field: 'meetingUrl' });
  });

  it('refuses an unknown provider as a GraphQL-over-HTTP validation error naming the value', async () => {
    const result = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'p-room', provider: 'ACME' } });
    expect(result.status).toBe(400);
    expect(result.errors?.[0]?.message).toContain('ACME');
    expect(result.data).toBeUndefined();
  });

  it('answers ProviderError PROVIDER_NOT_CONFIGURED for a vendor without credentials', async () => {
    const result = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'nc-room', provider: 'HMS' } });
    expect(result.data?.startLivestream).toMatchObject({
      __typename: 'ProviderError',
      code: 'PROVIDER_NOT_CONFIGURED',
      provider: 'HMS',
    });
    expect(await countInRoom('livestreams', 'nc-room')).toBe(0);
  });

  it('answers NotFoundError for unknown ids', async () => {
    const livestream = await gql(server.url, STOP_LIVESTREAM, { id: 'no-such-id' });
    expect(livestream.data?.stopLivestream).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    const recording = await gql(server.url, STOP_RECORDING, { id: 'no-such-id' });
    expect(recording.data?.stopRecording).toMatchObject({ __typename: 'NotFoundError', code: 'NOT_FOUND' });
    const read = await gql(server.url, 'query { livestream(id: "nope") { id } recording(id: "nope") { id } }');
    expect(read.data).toEqual({ livestream: null, recording: null });
  });

  it('marks the row FAILED with a reason when the vendor refuses, leaving the room free', async () => {
    const result = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'reject-me' } });
    expect(result.data?.startLivestream).toMatchObject({ __typename: 'ProviderError', code: 'PROVIDER_REJECTED' });
    const rows = await gql(
      server.url,
      `{ livestreams(roomId: "reject-me") { edges { node { status failureReason } } } }`,
    );
    expect(rows.data?.livestreams.edges).toHaveLength(1);
    expect(rows.data?.livestreams.edges[0].node.status).toBe('FAILED');
    expect(rows.data?.livestreams.edges[0].node.failureReason).toContain('PROVIDER_REJECTED');
    const active = await gql(server.url, `{ activeLivestreams(roomId: "reject-me") { id } }`);
    expect(active.data?.activeLivestreams).toEqual([]);
  });

  it('answers PROVIDER_UNAVAILABLE when the vendor is down', async () => {
    const result = await gql(server.url, START_RECORDING, { input: { roomId: 'unavailable-now' } });
    expect(result.data?.startRecording).toMatchObject({ __typename: 'ProviderError', code: 'PROVIDER_UNAVAILABLE' });
    const active = await gql(server.url, `{ activeRecordings(roomId: "unavailable-now") { id } }`);
    expect(active.data?.activeRecordings).toEqual([]);
  });
});

describe('queries', () => {
  it('filters active streams and pages through all of them with Relay cursors', async () => {
    for (let i = 0; i < 5; i++)
      await gql(server.url, START_LIVESTREAM, { input: { roomId: `page-${i}`, provider: 'SANDBOX' } });
    const active = await gql(
      server.url,
      '{ activeLivestreams(provider: SANDBOX, roomId: "page-3") { roomId status } }',
    );
    expect(active.data?.activeLivestreams).toEqual([{ roomId: 'page-3', status: 'STARTING' }]);

    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const result: any = await gql(
        server.url,
        `query($after: String) { livestreams(first: 2, after: $after, status: STARTING) {
          edges { cursor node { roomId createdAt } } pageInfo { hasNextPage endCursor } } }`,
        { after },
      );
      const connection = result.data.livestreams;
      seen.push(...connection.edges.map((e: any) => e.node.roomId));
      if (!connection.pageInfo.hasNextPage) break;
      after = connection.pageInfo.endCursor;
    }
    const pageRooms = seen.filter((room) => room.startsWith('page-'));
    expect(pageRooms).toEqual(['page-4', 'page-3', 'page-2', 'page-1', 'page-0']);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('refuses a cursor it never gave out', async () => {
    const result = await gql(server.url, '{ livestreams(after: "garbage") { edges { cursor } } }');
    expect(result.errors?.[0]?.message).toContain('cursor');
  });

  it('lists every provider, configured or not, with what it supports', async () => {
    const result = await gql(server.url, '{ providers { provider configured livestreams recordings webhooks } }');
    const providers = result.data?.providers;
    expect(providers.map((p: any) => p.provider)).toEqual([
      'SANDBOX',
      'HMS',
      'CLOUDFLARE',
      'DYTE',
      'TENBYTE',
      'LIVEKIT',
    ]);
    expect(providers[0]).toEqual({
      provider: 'SANDBOX',
      configured: true,
      livestreams: true,
      recordings: true,
      webhooks: true,
    });
    expect(providers.filter((p: any) => p.configured)).toHaveLength(1);
  });

  it('stores a room automation rule and shows it on the Room entity', async () => {
    const set = await gql(
      server.url,
      `mutation { setRoomAutomation(input: { roomId: "auto-room", recordOn: SESSION_START, stopWhenEmpty: true }) {
        __typename ... on SetRoomAutomationSuccess { automation { provider roomId recordOn stopWhenEmpty } } } }`,
    );
    expect(set.data?.setRoomAutomation).toEqual({
      __typename: 'SetRoomAutomationSuccess',
      automation: { provider: 'SANDBOX', roomId: 'auto-room', recordOn: 'SESSION_START', stopWhenEmpty: true },
    });
    const invalid = await gql(
      server.url,
      `mutation { setRoomAutomation(input: { roomId: "", recordOn: NEVER }) { __typename ... on Error { code } } }`,
    );
    expect(invalid.data?.setRoomAutomation).toEqual({ __typename: 'ValidationError', code: 'VALIDATION' });
  });
});
