import { afterEach, describe, expect, it } from 'vitest';
import { CLOUDFLARE_LIVESTREAM_STATUS, CLOUDFLARE_RECORDING_STATUS } from '../../../src/providers/cloudflare/index.js';
import { vendorErrorMessage } from '../../../src/providers/realtimekit-api/api.js';
import { mapLivestreamStatus, mapRecordingStatus } from '../../../src/providers/realtimekit-api/status.js';
import { CLOUDFLARE_AUTH_ERROR, type CloudflareFake, startCloudflareFake } from '../../fakes/cloudflare.js';
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

describe('Cloudflare RealtimeKit status mapping', () => {
  it('maps every documented livestream status', () => {
    const map = (status: string, history = FRESH) => mapLivestreamStatus(CLOUDFLARE_LIVESTREAM_STATUS, status, history);
    expect(map('INVOKED')).toBe('STARTING');
    expect(map('LIVE')).toBe('LIVE');
    expect(map('IDLE')).toBe('STOPPED');
    expect(map('ERRORED')).toBe('FAILED');
    // Webhooks only: before the livestream went live it is still starting; after, it ended.
    expect(map('OFFLINE')).toBe('STARTING');
    expect(map('OFFLINE', { wentLive: true, stopRequested: false })).toBe('STOPPED');
    expect(map('OFFLINE', { wentLive: false, stopRequested: true })).toBe('STOPPED');
    // Undocumented values never end a stream by guess.
    expect(map('SOMETHING_NEW')).toBe('STARTING');
    expect(map('live')).toBe('LIVE');
  });

  it('maps every documented recording status', () => {
    const map = (status: string) => mapRecordingStatus(CLOUDFLARE_RECORDING_STATUS, status);
    expect(map('INVOKED')).toBe('STARTING');
    expect(map('RECORDING')).toBe('RECORDING');
    expect(map('PAUSED')).toBe('PAUSED');
    expect(map('UPLOADING')).toBe('UPLOADING');
    expect(map('UPLOADED')).toBe('COMPLETED');
    expect(map('ERRORED')).toBe('FAILED');
    expect(map('SOMETHING_NEW')).toBe('STARTING');
  });

  it('reads the vendor message from either error envelope', () => {
    expect(vendorErrorMessage({ success: false, errors: [{ code: 10000, message: 'Authentication error' }] })).toBe(
      'Authentication error (code 10000)',
    );
    expect(vendorErrorMessage({ success: false, errors: ['meeting not found', 'second'] })).toBe(
      'meeting not found; second',
    );
    expect(vendorErrorMessage({ success: false, error: { code: 404, message: 'No livestream' } })).toBe(
      'No livestream (code 404)',
    );
    expect(vendorErrorMessage({ success: false, message: 'plain' })).toBe('plain');
    expect(vendorErrorMessage({ success: false })).toBeUndefined();
  });
});

const LIVESTREAMS_IN_ROOM = `query Rows($roomId: String!) {
  livestreams(provider: CLOUDFLARE, roomId: $roomId) { edges { node { ${LIVESTREAM_FIELDS} } } }
  activeLivestreams(provider: CLOUDFLARE, roomId: $roomId) { id }
}`;
const LIVESTREAM = `query One($id: ID!) { livestream(id: $id) { ${LIVESTREAM_FIELDS} history { status vendorStatus source applied } } }`;
const RECORDING = `query One($id: ID!) { recording(id: $id) { ${RECORDING_FIELDS} } }`;

describe('Cloudflare RealtimeKit provider against its fake', () => {
  let fake: CloudflareFake;
  let server: TestServer;

  async function boot(env: Record<string, string> = {}): Promise<void> {
    fake = await startCloudflareFake();
    server = await startServer({ ...fake.env, ...FAST, ...env });
  }

  afterEach(async () => {
    await server?.cleanup();
    await fake?.close();
  });

  const meeting = () => `bbb${crypto.randomUUID().slice(3)}`;
  const startLivestream = (roomId: string, extra: Record<string, unknown> = {}) =>
    gql(server.url, START_LIVESTREAM, { input: { provider: 'CLOUDFLARE', roomId, ...extra } });
  const startRecording = (roomId: string, extra: Record<string, unknown> = {}) =>
    gql(server.url, START_RECORDING, { input: { provider: 'CLOUDFLARE', roomId, ...extra } });
  const livestreamStatus = async (id: string) => (await gql(server.url, LIVESTREAM, { id })).data?.livestream;
  const recordingStatus = async (id: string) => (await gql(server.url, RECORDING, { id })).data?.recording;
  const livestreamRows = async (roomId: string) => {
    const { data } = await gql(server.url, LIVESTREAMS_IN_ROOM, { roomId });
    return { rows: data?.livestreams.edges.map((e: any) => e.node), active: data?.activeLivestreams };
  };
  const base = () => `/client/v4/accounts/${fake.env.CLOUDFLARE_ACCOUNT_ID}/realtime/kit/${fake.env.CLOUDFLARE_APP_ID}`;
  const bearer = () => `Bearer ${fake.env.CLOUDFLARE_API_TOKEN}`;

  it('runs a livestream through its life: exact requests, polling, subscription', async () => {
    await boot();
    const roomId = meeting();
    const client = wsClient(server.wsUrl);
    const seen = collect(
      client,
      `subscription { livestreamChanged(provider: CLOUDFLARE, roomId: "${roomId}") { status vendorStatus } }`,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));

    const started = await startLivestream(roomId, { name: 'Town hall', video: { width: 1280, height: 720 } });
    expect(started.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    const livestream = started.data?.startLivestream.livestream;
    const vendor = [...fake.livestreams.values()][0]!;
    expect(livestream).toMatchObject({
      provider: 'CLOUDFLARE',
      roomId,
      status: 'STARTING',
      vendorStatus: 'INVOKED',
      externalId: vendor.id,
      playbackUrl: vendor.playback_url,
      ingest: { rtmpUrl: vendor.ingest_server, streamKey: vendor.stream_key, whipUrl: null },
    });

    const [start] = fake.requestsTo('POST', /^\/meetings\/[^/]+\/livestreams$/);
    expect(start).toMatchObject({
      url: `${base()}/meetings/${roomId}/livestreams`,
      body: { name: 'Town hall', video_config: { height: 720, width: 1280 } },
    });
    expect(start!.headers.authorization).toBe(bearer());
    expect(start!.headers['content-type']).toBe('application/json');

    fake.setLivestreamStatus(vendor.id, 'LIVE');
    await waitFor(async () => (await livestreamStatus(livestream.id))?.status === 'LIVE', 5000);
    const read = fake.requestsTo('GET', new RegExp(`^/livestreams/${vendor.id}$`));
    expect(read.length).toBeGreaterThan(0);
    expect(read[0]!.headers.authorization).toBe(bearer());

    const stopped = await gql(server.url, STOP_LIVESTREAM, { id: livestream.id });
    expect(stopped.data?.stopLivestream.livestream).toMatchObject({
      status: 'STOPPING',
      vendorStatus: 'STOP_REQUESTED',
    });
    // The stop is by meeting: the active livestream is checked to be ours, then stopped.
    expect(fake.requestsTo('GET', /\/active-livestream$/).at(-1)!.url).toBe(
      `${base()}/meetings/${roomId}/active-livestream`,
    );
    const [stop] = fake.requestsTo('POST', /\/active-livestream\/stop$/);
    expect(stop).toMatchObject({ url: `${base()}/meetings/${roomId}/active-livestream/stop` });
    expect(stop!.headers.authorization).toBe(bearer());

    const final = await waitFor(async () => {
      const current = await livestreamStatus(livestream.id);
      return current?.status === 'STOPPED' ? current : null;
    }, 5000);
    expect(final).toMatchObject({ vendorStatus: 'IDLE', failureReason: null });
    expect(final.stoppedAt).toBeTruthy();
    expect((await livestreamRows(roomId)).active).toEqual([]);

    await seen.waitFor(4);
    const statuses = seen.events.map((e) => e.livestreamChanged.status).filter((s, i, all) => s !== all[i - 1]);
    expect(statuses).toEqual(['STARTING', 'LIVE', 'STOPPING', 'STOPPED']);
    seen.unsubscribe();
    await client.dispose();
  });

  it('runs a recording through its life, ending with its file as an asset', async () => {
    await boot();
    const roomId = meeting();
    const started = await startRecording(roomId, { resolution: { width: 1920, height: 1080 } });
    expect(started.data?.startRecording.__typename).toBe('StartRecordingSuccess');
    const recording = started.data?.startRecording.recording;
    const vendor = [...fake.recordings.values()][0]!;
    expect(recording).toMatchObject({ status: 'STARTING', vendorStatus: 'INVOKED', externalId: vendor.id });
    const [start] = fake.requestsTo('POST', /^\/recordings$/);
    expect(start).toMatchObject({
      url: `${base()}/recordings`,
      body: { meeting_id: roomId, video_config: { width: 1920, height: 1080 } },
    });
    expect(start!.headers.authorization).toBe(bearer());

    const until = (status: string) =>
      waitFor(async () => {
        const current = await recordingStatus(recording.id);
        return current?.status === status ? current : null;
      }, 5000);
    fake.setRecordingStatus(vendor.id, 'RECORDING');
    expect((await until('RECORDING')).startedAt).toBeTruthy();
    fake.setRecordingStatus(vendor.id, 'PAUSED');
    await until('PAUSED');
    fake.setRecordingStatus(vendor.id, 'RECORDING');
    await until('RECORDING');
    expect(fake.requestsTo('GET', new RegExp(`^/recordings/${vendor.id}$`))[0]!.headers.authorization).toBe(bearer());

    const stopped = await gql(server.url, STOP_RECORDING, { id: recording.id });
    expect(stopped.data?.stopRecording.recording).toMatchObject({ status: 'STOPPING', vendorStatus: 'STOP_REQUESTED' });
    const [stop] = fake.requestsTo('PUT', /^\/recordings\/[^/]+$/);
    expect(stop).toMatchObject({ url: `${base()}/recordings/${vendor.id}`, body: { action: 'stop' } });
    expect(stop!.headers.authorization).toBe(bearer());
    await until('UPLOADING');

    fake.setRecordingStatus(vendor.id, 'UPLOADED');
    const done = await until('COMPLETED');
    expect(done.vendorStatus).toBe('UPLOADED');
    expect(done.assets).toEqual([
      {
        id: expect.any(String),
        type: 'composite',
        path: vendor.output_file_name,
        size: vendor.file_size,
        durationSeconds: vendor.recording_duration,
        url: vendor.download_url,
        urlExpiresAt: new Date(vendor.download_url_expiry!).toISOString(),
      },
    ]);
  });

  it('marks a livestream FAILED with a reason when the vendor reports ERRORED', async () => {
    await boot();
    const roomId = meeting();
    const { livestream } = (await startLivestream(roomId)).data!.startLivestream;
    fake.setLivestreamStatus(livestream.externalId, 'ERRORED', { active: false });
    const failed = await waitFor(async () => {
      const current = await livestreamStatus(livestream.id);
      return current?.status === 'FAILED' ? current : null;
    }, 5000);
    expect(failed.failureReason).toContain('ERRORED');
  });

  it('marks a recording FAILED with the stop reason when the vendor reports ERRORED', async () => {
    await boot();
    const { recording } = (await startRecording(meeting())).data!.startRecording;
    fake.setRecordingStatus(recording.externalId, 'ERRORED', { stop_reason: 'RECORDING_TOO_SHORT' });
    const failed = await waitFor(async () => {
      const current = await recordingStatus(recording.id);
      return current?.status === 'FAILED' ? current : null;
    }, 5000);
    expect(failed.failureReason).toContain('RECORDING_TOO_SHORT');
  });

  it('refuses audio-only recordings, which RealtimeKit does not make', async () => {
    await boot();
    const result = (await startRecording(meeting(), { audioOnly: true })).data?.startRecording;
    expect(result).toMatchObject({ __typename: 'ProviderError', code: 'PROVIDER_REJECTED' });
    expect(fake.requestsTo('POST', /^\/recordings$/)).toHaveLength(0);
  });

  it('a wrong credential answers PROVIDER_REJECTED with the vendor message and never the credential', async () => {
    const wrongToken = 'cf-wrong-token-4f7a1c9e2b';
    await boot({ CLOUDFLARE_API_TOKEN: wrongToken });
    const roomId = meeting();
    const result = (await startLivestream(roomId)).data?.startLivestream;
    expect(result).toMatchObject({ __typename: 'ProviderError', code: 'PROVIDER_REJECTED' });
    expect(result.message).toContain(CLOUDFLARE_AUTH_ERROR);
    expect(result.message).toContain('401');
    const { rows, active } = await livestreamRows(roomId);
    expect(rows[0].status).toBe('FAILED');
    expect(active).toEqual([]);
    for (const text of [result.message, rows[0].failureReason]) {
      expect(text).not.toContain(wrongToken);
      expect(text).not.toContain(fake.env.CLOUDFLARE_API_TOKEN);
    }
    expect(fake.requestsTo('POST', /\/livestreams$/)[0]!.headers.authorization).toBe(`Bearer ${wrongToken}`);
  });

  it('honours Retry-After on a rate-limited poll and then learns the status', async () => {
    await boot();
    const { livestream } = (await startLivestream(meeting())).data!.startLivestream;
    const path = new RegExp(`^/livestreams/${livestream.externalId}$`);
    await waitFor(() => fake.requestsTo('GET', path).length > 0);
    fake.fail({ mode: '429', retryAfterSeconds: 1, method: 'GET', path });
    const before = fake.requestsTo('GET', path).length;
    fake.setLivestreamStatus(livestream.externalId, 'LIVE');
    await waitFor(async () => (await livestreamStatus(livestream.id))?.status === 'LIVE', 5000);
    const [limited, retried] = fake.requestsTo('GET', path).slice(before);
    expect(retried!.at - limited!.at).toBeGreaterThanOrEqual(950);
  });

  it('a failed stop changes nothing: the livestream stays LIVE', async () => {
    await boot();
    const { livestream } = (await startLivestream(meeting())).data!.startLivestream;
    fake.setLivestreamStatus(livestream.externalId, 'LIVE');
    await waitFor(async () => (await livestreamStatus(livestream.id))?.status === 'LIVE', 5000);
    fake.fail({ mode: '500', times: 3, method: 'POST', path: /\/active-livestream\/stop$/ });
    const result = (await gql(server.url, STOP_LIVESTREAM, { id: livestream.id })).data?.stopLivestream;
    expect(result).toMatchObject({ __typename: 'ProviderError', code: 'PROVIDER_UNAVAILABLE' });
    // Stops are safe to repeat, so the shared client retried them (VENDOR_MAX_RETRIES=2).
    expect(fake.requestsTo('POST', /\/active-livestream\/stop$/)).toHaveLength(3);
    expect((await livestreamStatus(livestream.id))?.status).toBe('LIVE');
  });

  it('never stops a livestream that is no longer the meeting active one', async () => {
    await boot();
    const roomId = meeting();
    const { livestream } = (await startLivestream(roomId)).data!.startLivestream;
    fake.setLivestreamStatus(livestream.externalId, 'LIVE', { active: false });
    const someoneElses = fake.addLivestream(roomId);
    const result = (await gql(server.url, STOP_LIVESTREAM, { id: livestream.id })).data?.stopLivestream;
    expect(result.livestream).toMatchObject({ status: 'STOPPED', vendorStatus: 'NOT_ACTIVE' });
    expect(fake.requestsTo('POST', /\/active-livestream\/stop$/)).toHaveLength(0);
    expect(fake.activeLivestream(roomId)?.id).toBe(someoneElses.id);
  });
});

realtimeKitProviderSuite({
  provider: 'CLOUDFLARE',
  start: () => startCloudflareFake(),
  meeting: () => `bbb${crypto.randomUUID().slice(3)}`,
  livestreamStartStatus: 'INVOKED',
});
