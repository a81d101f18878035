import { afterEach, describe, expect, it } from 'vitest';
import { DYTE_LIVESTREAM_STATUS, DYTE_RECORDING_STATUS } from '../../../src/providers/dyte/index.js';
import { vendorErrorMessage } from '../../../src/providers/realtimekit-api/api.js';
import { mapLivestreamStatus, mapRecordingStatus } from '../../../src/providers/realtimekit-api/status.js';
import { DYTE_AUTH_ERROR, type DyteFake, startDyteFake } from '../../fakes/dyte.js';
import {
  collect,
  gql,
  LIVESTREAM_FIELDS,
  RECORDING_FIELDS,
  START_LIVESTREAM,
  START_RECORDING,
  STOP_LIVESTREAM,
  STOP_RECORDING,
  startServer,
  type TestServer,
  waitFor,
  wsClient,
} from '../../helpers.js';
import { realtimeKitProviderSuite } from '../realtimekit/provider-suite.js';

const FAST = { POLL_INTERVAL_MS: '50', VENDOR_TIMEOUT_MS: '300', VENDOR_MAX_RETRIES: '2' };
const FRESH = { wentLive: false, stopRequested: false };

describe('Dyte status mapping', () => {
  it('maps every documented livestream status, and tolerates RealtimeKit values', () => {
    const map = (status: string, history = FRESH) => mapLivestreamStatus(DYTE_LIVESTREAM_STATUS, status, history);
    // Documented: the start answers OFFLINE, the active read LIVE, webhooks LIVE | OFFLINE.
    expect(map('OFFLINE')).toBe('STARTING');
    expect(map('LIVE')).toBe('LIVE');
    expect(map('OFFLINE', { wentLive: true, stopRequested: false })).toBe('STOPPED');
    expect(map('OFFLINE', { wentLive: false, stopRequested: true })).toBe('STOPPED');
    // The list is unconfirmed: RealtimeKit's values (same API lineage) are read too.
    expect(map('INVOKED')).toBe('STARTING');
    expect(map('IDLE')).toBe('STOPPED');
    expect(map('ERRORED')).toBe('FAILED');
    // Anything else keeps the stream where it is (STARTING can not move it backwards).
    expect(map('SOMETHING_NEW', { wentLive: true, stopRequested: false })).toBe('STARTING');
  });

  it('maps every recording status ("as RealtimeKit")', () => {
    const map = (status: string) => mapRecordingStatus(DYTE_RECORDING_STATUS, status);
    expect(map('INVOKED')).toBe('STARTING');
    expect(map('RECORDING')).toBe('RECORDING');
    expect(map('PAUSED')).toBe('PAUSED');
    expect(map('UPLOADING')).toBe('UPLOADING');
    expect(map('UPLOADED')).toBe('COMPLETED');
    expect(map('ERRORED')).toBe('FAILED');
  });

  it('reads the vendor message from either error envelope', () => {
    expect(vendorErrorMessage({ success: false, error: { code: 401, message: 'Unauthorized' } })).toBe(
      'Unauthorized (code 401)',
    );
    expect(vendorErrorMessage({ success: false, errors: [{ message: 'bad meeting' }, 'also this'] })).toBe(
      'bad meeting; also this',
    );
  });
});

const LIVESTREAMS_IN_ROOM = `query Rows($roomId: String!) {
  livestreams(provider: DYTE, roomId: $roomId) { edges { node { ${LIVESTREAM_FIELDS} } } }
  activeLivestreams(provider: DYTE, roomId: $roomId) { id }
}`;
const RECORDINGS_IN_ROOM = `query Rows($roomId: String!) {
  recordings(provider: DYTE, roomId: $roomId) { edges { node { ${RECORDING_FIELDS} } } }
  activeRecordings(provider: DYTE, roomId: $roomId) { id }
}`;
const LIVESTREAM = `query One($id: ID!) { livestream(id: $id) { ${LIVESTREAM_FIELDS} } }`;
const RECORDING = `query One($id: ID!) { recording(id: $id) { ${RECORDING_FIELDS} } }`;

describe('Dyte provider against its fake', () => {
  let fake: DyteFake;
  let server: TestServer;

  async function boot(env: Record<string, string> = {}): Promise<void> {
    fake = await startDyteFake();
    server = await startServer({ ...fake.env, ...FAST, ...env });
  }

  afterEach(async () => {
    await server?.cleanup();
    await fake?.close();
  });

  const meeting = () => `188566bc-${crypto.randomUUID().slice(9)}`;
  const basic = () => `Basic ${Buffer.from(`${fake.env.DYTE_ORG_ID}:${fake.env.DYTE_API_KEY}`).toString('base64')}`;
  const startLivestream = (roomId: string, extra: Record<string, unknown> = {}) =>
    gql(server.url, START_LIVESTREAM, { input: { provider: 'DYTE', roomId, ...extra } });
  const startRecording = (roomId: string, extra: Record<string, unknown> = {}) =>
    gql(server.url, START_RECORDING, { input: { provider: 'DYTE', roomId, ...extra } });
  const livestreamNow = async (id: string) => (await gql(server.url, LIVESTREAM, { id })).data?.livestream;
  const recordingNow = async (id: string) => (await gql(server.url, RECORDING, { id })).data?.recording;
  const livestreamUntil = (id: string, status: string) =>
    waitFor(async () => {
      const current = await livestreamNow(id);
      return current?.status === status ? current : null;
    }, 5000);
  const recordingUntil = (id: string, status: string) =>
    waitFor(async () => {
      const current = await recordingNow(id);
      return current?.status === status ? current : null;
    }, 5000);
  const livestreamRows = async (roomId: string) => {
    const { data } = await gql(server.url, LIVESTREAMS_IN_ROOM, { roomId });
    return { rows: data?.livestreams.edges.map((e: any) => e.node), active: data?.activeLivestreams };
  };
  const recordingRows = async (roomId: string) => {
    const { data } = await gql(server.url, RECORDINGS_IN_ROOM, { roomId });
    return { rows: data?.recordings.edges.map((e: any) => e.node), active: data?.activeRecordings };
  };
  const activeReads = (roomId: string) => fake.requestsTo('GET', new RegExp(`^/meetings/${roomId}/active-livestream$`));

  it('runs a livestream through its life, polling the meeting active livestream', async () => {
    await boot();
    const roomId = meeting();
    const client = wsClient(server.wsUrl);
    const seen = collect(client, `subscription { livestreamChanged(provider: DYTE, roomId: "${roomId}") { status } }`);
    await new Promise((resolve) => setTimeout(resolve, 100));

    const started = await startLivestream(roomId, { name: 'Launch', video: { width: 1920, height: 1080 } });
    expect(started.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    const livestream = started.data?.startLivestream.livestream;
    const vendor = fake.activeLivestream(roomId)!;
    expect(livestream).toMatchObject({
      provider: 'DYTE',
      status: 'STARTING',
      vendorStatus: 'OFFLINE',
      externalId: vendor.id,
      playbackUrl: vendor.playback_url,
      ingest: { rtmpUrl: vendor.ingest_server, streamKey: vendor.stream_key },
    });
    const [start] = fake.requestsTo('POST', /\/livestreams$/);
    expect(start).toMatchObject({
      url: `/v2/meetings/${roomId}/livestreams`,
      body: { name: 'Launch', video_config: { height: 1080, width: 1920 } },
    });
    expect(start!.headers.authorization).toBe(basic());

    fake.setLivestreamStatus(vendor.id, 'LIVE');
    await livestreamUntil(livestream.id, 'LIVE');
    expect(activeReads(roomId)[0]!.headers.authorization).toBe(basic());
    // Dyte documents no read-one livestream path: it is never called.
    expect(fake.requests.filter((r) => r.path.startsWith('/livestreams'))).toEqual([]);

    const stopped = await gql(server.url, STOP_LIVESTREAM, { id: livestream.id });
    expect(stopped.data?.stopLivestream.livestream).toMatchObject({
      status: 'STOPPING',
      vendorStatus: 'STOP_REQUESTED',
    });
    const [stop] = fake.requestsTo('POST', /\/active-livestream\/stop$/);
    expect(stop).toMatchObject({ url: `/v2/meetings/${roomId}/active-livestream/stop` });
    expect(stop!.headers.authorization).toBe(basic());

    // The meeting has no active livestream any more, and we asked ours to stop: it is over.
    const final = await livestreamUntil(livestream.id, 'STOPPED');
    expect(final.vendorStatus).toBe('NOT_ACTIVE');
    expect((await livestreamRows(roomId)).active).toEqual([]);

    await seen.waitFor(4);
    const statuses = seen.events.map((e) => e.livestreamChanged.status).filter((s, i, all) => s !== all[i - 1]);
    expect(statuses).toEqual(['STARTING', 'LIVE', 'STOPPING', 'STOPPED']);
    seen.unsubscribe();
    await client.dispose();
  });

  it('a livestream that went OFFLINE after LIVE is STOPPED', async () => {
    await boot();
    const { livestream } = (await startLivestream(meeting())).data!.startLivestream;
    fake.setLivestreamStatus(livestream.externalId, 'LIVE');
    await livestreamUntil(livestream.id, 'LIVE');
    fake.setLivestreamStatus(livestream.externalId, 'OFFLINE');
    expect((await livestreamUntil(livestream.id, 'STOPPED')).vendorStatus).toBe('OFFLINE');
  });

  it('a LIVE livestream that is no longer the meeting active one is STOPPED', async () => {
    await boot();
    const { livestream } = (await startLivestream(meeting())).data!.startLivestream;
    fake.setLivestreamStatus(livestream.externalId, 'LIVE');
    await livestreamUntil(livestream.id, 'LIVE');
    fake.setLivestreamStatus(livestream.externalId, 'OFFLINE', { active: false });
    expect((await livestreamUntil(livestream.id, 'STOPPED')).vendorStatus).toBe('NOT_ACTIVE');
  });

  it('a livestream not listed as active before it ever went live stays STARTING', async () => {
    await boot();
    const roomId = meeting();
    const { livestream } = (await startLivestream(roomId)).data!.startLivestream;
    fake.setLivestreamStatus(livestream.externalId, 'OFFLINE', { active: false });
    const reads = activeReads(roomId).length;
    await waitFor(() => activeReads(roomId).length >= reads + 3);
    expect(await livestreamNow(livestream.id)).toMatchObject({ status: 'STARTING', vendorStatus: 'OFFLINE' });
  });

  it('runs a recording through its life, ending with its file as an asset', async () => {
    await boot();
    const roomId = meeting();
    const started = await startRecording(roomId, { resolution: { width: 1280, height: 720 } });
    const recording = started.data?.startRecording.recording;
    const vendor = [...fake.recordings.values()][0]!;
    expect(recording).toMatchObject({ status: 'STARTING', vendorStatus: 'INVOKED', externalId: vendor.id });
    const [start] = fake.requestsTo('POST', /^\/recordings$/);
    expect(start).toMatchObject({
      url: '/v2/recordings',
      body: { meeting_id: roomId, video_config: { width: 1280, height: 720 } },
    });
    expect(start!.headers.authorization).toBe(basic());

    fake.setRecordingStatus(vendor.id, 'RECORDING');
    await recordingUntil(recording.id, 'RECORDING');
    fake.setRecordingStatus(vendor.id, 'PAUSED');
    await recordingUntil(recording.id, 'PAUSED');
    fake.setRecordingStatus(vendor.id, 'RECORDING');
    await recordingUntil(recording.id, 'RECORDING');
    expect(fake.requestsTo('GET', new RegExp(`^/recordings/${vendor.id}$`))[0]!.headers.authorization).toBe(basic());

    const stopped = await gql(server.url, STOP_RECORDING, { id: recording.id });
    expect(stopped.data?.stopRecording.recording).toMatchObject({ status: 'STOPPING' });
    const [stop] = fake.requestsTo('PUT', /^\/recordings\/[^/]+$/);
    expect(stop).toMatchObject({ url: `/v2/recordings/${vendor.id}`, body: { action: 'stop' } });
    expect(stop!.headers.authorization).toBe(basic());
    await recordingUntil(recording.id, 'UPLOADING');

    fake.setRecordingStatus(vendor.id, 'UPLOADED');
    const done = await recordingUntil(recording.id, 'COMPLETED');
    expect(done.assets).toEqual([
      expect.objectContaining({
        type: 'composite',
        path: vendor.output_file_name,
        size: vendor.file_size,
        durationSeconds: vendor.recording_duration,
        url: vendor.download_url,
      }),
    ]);
    expect((await recordingRows(roomId)).active).toEqual([]);
  });

  it('a stop refused because the recording had already stopped answers its real state', async () => {
    await boot({ POLL_INTERVAL_MS: '60000' });
    const { recording } = (await startRecording(meeting())).data!.startRecording;
    // It stopped by itself (empty meeting) before we knew.
    fake.setRecordingStatus(recording.externalId, 'UPLOADING');
    const result = (await gql(server.url, STOP_RECORDING, { id: recording.id })).data?.stopRecording;
    expect(result.recording).toMatchObject({ status: 'UPLOADING', vendorStatus: 'UPLOADING' });
  });

  it('a wrong credential answers PROVIDER_REJECTED with the vendor message and never the credential', async () => {
    const wrongKey = 'dyte-wrong-key-9c1e77f2';
    await boot({ DYTE_API_KEY: wrongKey });
    const roomId = meeting();
    const result = (await startRecording(roomId)).data?.startRecording;
    expect(result).toMatchObject({ __typename: 'ProviderError', code: 'PROVIDER_REJECTED', provider: 'DYTE' });
    expect(result.message).toContain(DYTE_AUTH_ERROR);
    const { rows, active } = await recordingRows(roomId);
    expect(rows[0].status).toBe('FAILED');
    expect(active).toEqual([]);
    const wrongBasic = Buffer.from(`${fake.env.DYTE_ORG_ID}:${wrongKey}`).toString('base64');
    for (const text of [result.message, rows[0].failureReason]) {
      expect(text).not.toContain(wrongKey);
      expect(text).not.toContain(wrongBasic);
      expect(text).not.toContain(fake.env.DYTE_API_KEY);
    }
    expect(fake.requestsTo('POST', /^\/recordings$/)[0]!.headers.authorization).toBe(`Basic ${wrongBasic}`);
  });

  it('honours Retry-After on a rate-limited poll and then learns the status', async () => {
    await boot();
    const roomId = meeting();
    const { livestream } = (await startLivestream(roomId)).data!.startLivestream;
    await waitFor(() => activeReads(roomId).length > 0);
    fake.fail({ mode: '429', retryAfterSeconds: 1, method: 'GET', path: /\/active-livestream$/ });
    const before = activeReads(roomId).length;
    fake.setLivestreamStatus(livestream.externalId, 'LIVE');
    await livestreamUntil(livestream.id, 'LIVE');
    const [limited, retried] = activeReads(roomId).slice(before);
    expect(retried!.at - limited!.at).toBeGreaterThanOrEqual(950);
  });
});

realtimeKitProviderSuite({
  provider: 'DYTE',
  start: () => startDyteFake(),
  meeting: () => `188566bc-${crypto.randomUUID().slice(9)}`,
  livestreamStartStatus: 'OFFLINE',
});
