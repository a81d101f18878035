import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  collect,
  gql,
  START_LIVESTREAM,
  START_RECORDING,
  STOP_LIVESTREAM,
  STOP_RECORDING,
  startServer,
  type TestServer,
  waitFor,
  wsClient,
} from './helpers.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer({ SANDBOX_STEP_MS: '80' });
});
afterAll(async () => {
  await server.cleanup();
});

const WATCH_LIVESTREAM = `subscription Watch($id: ID!) {
  livestreamChanged(id: $id) { id status version vendorStatus playbackUrl }
}`;
const WATCH_RECORDING = `subscription Watch($id: ID!) {
  recordingChanged(id: $id) { id status version assets { type url size } }
}`;

function expectIncreasingVersions(events: { version: number }[]) {
  for (let i = 1; i < events.length; i++) {
    expect(events[i]?.version).toBeGreaterThan(events[i - 1]?.version ?? Number.POSITIVE_INFINITY);
  }
}

describe('a livestream through its whole life on the sandbox', () => {
  it('is seen by a graphql-ws subscriber: snapshot, every status in order, completion', async () => {
    const started = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'life-room' } });
    expect(started.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    const livestream = started.data?.startLivestream.livestream;
    expect(livestream.status).toBe('STARTING');
    expect(livestream.provider).toBe('SANDBOX');
    expect(livestream.externalId).toMatch(/^sbx_/);

    const client = wsClient(server.wsUrl);
    const watch = collect(client, WATCH_LIVESTREAM, { id: livestream.id });
    const [snapshot] = await watch.waitFor(1);
    expect(snapshot.livestreamChanged.id).toBe(livestream.id);

    await waitFor(() => watch.events.some((e) => e.livestreamChanged.status === 'LIVE'));
    const stopped = await gql(server.url, STOP_LIVESTREAM, { id: livestream.id });
    expect(stopped.data?.stopLivestream.__typename).toBe('StopLivestreamSuccess');
    expect(stopped.data?.stopLivestream.livestream.status).toBe('STOPPING');

    await watch.completed;
    const statuses = watch.events.map((e) => e.livestreamChanged.status);
    // The snapshot may already be LIVE; from there on every status arrives, in order, once.
    const seen = statuses.filter((s, i) => s !== statuses[i - 1]);
    expect(seen.slice(seen.indexOf('LIVE'))).toEqual(['LIVE', 'STOPPING', 'STOPPED']);
    expect(statuses.at(-1)).toBe('STOPPED');
    expectIncreasingVersions(watch.events.map((e) => e.livestreamChanged));
    expect(watch.errors).toEqual([]);
    await client.dispose();

    const read = await gql(
      server.url,
      `query($id: ID!) { livestream(id: $id) { status version startedAt stoppedAt
        history { status source version applied } } }`,
      { id: livestream.id },
    );
    const final = read.data?.livestream;
    expect(final.status).toBe('STOPPED');
    expect(final.startedAt).not.toBeNull();
    expect(final.stoppedAt).not.toBeNull();
    expect(final.history.map((h: { status: string }) => h.status)).toEqual(
      expect.arrayContaining(['STARTING', 'LIVE', 'STOPPING', 'STOPPED']),
    );
    expect(final.history.map((h: { version: number }) => h.version)).toEqual(
      Array.from({ length: final.version }, (_, i) => i + 1),
    );
    expect(final.history.some((h: { source: string }) => h.source === 'WEBHOOK')).toBe(true);
  });

  it('completes at once, after the snapshot, when the stream is already final', async () => {
    const started = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'final-room' } });
    const id = started.data?.startLivestream.livestream.id;
    await waitFor(
      async () =>
        (await gql(server.url, 'query($id: ID!) { livestream(id: $id) { status } }', { id })).data?.livestream
          .status === 'LIVE',
    );
    await gql(server.url, STOP_LIVESTREAM, { id });
    await waitFor(
      async () =>
        (await gql(server.url, 'query($id: ID!) { livestream(id: $id) { status } }', { id })).data?.livestream
          .status === 'STOPPED',
    );

    const client = wsClient(server.wsUrl);
    const watch = collect(client, WATCH_LIVESTREAM, { id });
    await watch.completed;
    expect(watch.events.map((e) => e.livestreamChanged.status)).toEqual(['STOPPED']);
    await client.dispose();
  });

  it('streams room-filtered changes, creation included, to subscribers without an id', async () => {
    const client = wsClient(server.wsUrl);
    const room = collect(
      client,
      `subscription { livestreamChanged(provider: SANDBOX, roomId: "filtered-room") { roomId status version } }`,
    );
    const other = collect(client, `subscription { livestreamChanged(roomId: "another-room") { roomId status } }`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'filtered-room' } });
    await room.waitFor(3); // created (STARTING, v1), vendor answer (v2), LIVE
    expect(room.events[0].livestreamChanged).toMatchObject({ roomId: 'filtered-room', status: 'STARTING', version: 1 });
    expect(room.events.some((e) => e.livestreamChanged.status === 'LIVE')).toBe(true);
    expect(other.events).toEqual([]);
    await gql(server.url, STOP_LIVESTREAM, { id: started.data?.startLivestream.livestream.id });
    await client.dispose();
  });
});

describe('a recording through its whole life on the sandbox', () => {
  it('goes STARTING → RECORDING → STOPPING → UPLOADING → COMPLETED with an asset', async () => {
    const started = await gql(server.url, START_RECORDING, { input: { roomId: 'rec-room', audioOnly: false } });
    expect(started.data?.startRecording.__typename).toBe('StartRecordingSuccess');
    const recording = started.data?.startRecording.recording;

    const client = wsClient(server.wsUrl);
    const watch = collect(client, WATCH_RECORDING, { id: recording.id });
    await waitFor(() => watch.events.some((e) => e.recordingChanged.status === 'RECORDING'));
    const stopped = await gql(server.url, STOP_RECORDING, { id: recording.id });
    expect(stopped.data?.stopRecording.__typename).toBe('StopRecordingSuccess');

    await watch.completed;
    const statuses = watch.events.map((e) => e.recordingChanged.status);
    const seen = statuses.filter((s, i) => s !== statuses[i - 1]);
    expect(seen.slice(seen.indexOf('RECORDING'))).toEqual(['RECORDING', 'STOPPING', 'UPLOADING', 'COMPLETED']);
    expectIncreasingVersions(watch.events.map((e) => e.recordingChanged));
    const last = watch.events.at(-1).recordingChanged;
    expect(last.assets).toHaveLength(1);
    expect(last.assets[0].url).toMatch(/\.mp4$/);
    await client.dispose();
  });
});

describe('subscriptions over SSE', () => {
  it('delivers the snapshot, every change and completion on /graphql with text/event-stream', async () => {
    const started = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'sse-room' } });
    const id = started.data?.startLivestream.livestream.id;
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: WATCH_LIVESTREAM, variables: { id } }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');

    const events: { status: string; version: number }[] = [];
    let stopSent = false;
    const decoder = new TextDecoder();
    let buffer = '';
    let completed = false;
    const reader = response.body?.getReader();
    if (!reader) throw new Error('no body');
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let boundary = buffer.indexOf('\n\n');
      while (boundary >= 0) {
        const block = buffer.slice(0, boundary);
        buffer = buffer.slice(boundary + 2);
        boundary = buffer.indexOf('\n\n');
        if (block.startsWith('event: complete')) completed = true;
        const data = block.split('\n').find((line) => line.startsWith('data: '));
        if (!data || !block.startsWith('event: next')) continue;
        const payload = JSON.parse(data.slice(6));
        events.push(payload.data.livestreamChanged);
        if (payload.data.livestreamChanged.status === 'LIVE' && !stopSent) {
          stopSent = true;
          await gql(server.url, STOP_LIVESTREAM, { id });
        }
      }
    }
    expect(completed).toBe(true);
    expect(events[0]?.status).toMatch(/STARTING|LIVE/);
    expect(events.at(-1)?.status).toBe('STOPPED');
    expectIncreasingVersions(events);
  });
});
