import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { ProviderError } from '../../../src/domain/errors.js';
import { createHmsProvider, expiryDate } from '../../../src/providers/hms/index.js';
import {
  HMS_LIVESTREAM_STATUS,
  HMS_RECORDING_STATUS,
  HMS_STATUSES,
  mapLivestreamStatus,
  mapRecordingStatus,
} from '../../../src/providers/hms/status.js';
import { ManagementTokens } from '../../../src/providers/hms/token.js';
import type { Provider, StreamRef } from '../../../src/providers/provider.js';
import { FakeHms } from '../../fakes/hms.js';
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
} from '../../helpers.js';

const ACCESS_KEY = 'hms-access-key-0123';
const APP_SECRET = 'hms-app-secret-must-never-leak-4f9a';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function hmsEnv(fake: FakeHms, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    HMS_ACCESS_KEY: ACCESS_KEY,
    HMS_APP_SECRET: APP_SECRET,
    HMS_API_URL: fake.url,
    POLL_INTERVAL_MS: '50',
    VENDOR_TIMEOUT_MS: '300',
    VENDOR_MAX_RETRIES: '2',
    ...overrides,
  };
}

function providerFor(fake: FakeHms, overrides: Record<string, string> = {}): Provider {
  const provider = createHmsProvider(loadConfig(hmsEnv(fake, overrides)));
  if (!provider) throw new Error('100ms should be configured');
  return provider;
}

function ref(externalId: string, roomId = 'room-1'): StreamRef {
  return { id: 'our-id', roomId, externalId, sessionId: null };
}

async function rejection(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe('100ms status mapping', () => {
  it('maps every documented live stream status', () => {
    const expected = {
      starting: 'STARTING',
      running: 'LIVE',
      stopping: 'STOPPING',
      post_processing: 'STOPPING',
      completed: 'STOPPED',
      failed: 'FAILED',
    };
    expect(HMS_LIVESTREAM_STATUS).toEqual(expected);
    for (const status of HMS_STATUSES) expect(mapLivestreamStatus(status)).toBe(expected[status]);
  });

  it('maps every documented recording status', () => {
    const expected = {
      starting: 'STARTING',
      running: 'RECORDING',
      stopping: 'STOPPING',
      post_processing: 'UPLOADING',
      completed: 'COMPLETED',
      failed: 'FAILED',
    };
    expect(HMS_RECORDING_STATUS).toEqual(expected);
    for (const status of HMS_STATUSES) expect(mapRecordingStatus(status)).toBe(expected[status]);
  });

  it('answers null for a status 100ms does not document, so the current status is kept', () => {
    for (const status of ['paused', 'RUNNING', '', 'queued']) {
      expect(mapLivestreamStatus(status)).toBeNull();
      expect(mapRecordingStatus(status)).toBeNull();
    }
  });

  it('reads a pre-signed URL expiry in any of its plausible forms', () => {
    const at = Date.parse('2025-01-01T00:00:00Z');
    expect(expiryDate(3600, at, 60).toISOString()).toBe('2025-01-01T01:00:00.000Z');
    expect(expiryDate(1_735_693_200, at, 60).toISOString()).toBe('2025-01-01T01:00:00.000Z');
    expect(expiryDate(1_735_693_200_000, at, 60).toISOString()).toBe('2025-01-01T01:00:00.000Z');
    expect(expiryDate('2025-01-01T01:00:00Z', at, 60).toISOString()).toBe('2025-01-01T01:00:00.000Z');
    expect(expiryDate('3600', at, 60).toISOString()).toBe('2025-01-01T01:00:00.000Z');
    expect(expiryDate(null, at, 60).toISOString()).toBe('2025-01-01T00:01:00.000Z');
  });
});

describe('100ms management token', () => {
  it('carries the claims of the official SDK, signed HS256', async () => {
    const now = Date.parse('2025-06-01T12:00:00Z');
    const token = await new ManagementTokens({ accessKey: ACCESS_KEY, appSecret: APP_SECRET, now: () => now }).get();
    expect(decodeProtectedHeader(token).alg).toBe('HS256');
    const claims = decodeJwt(token);
    const iat = now / 1000 - 10;
    expect(claims).toEqual({
      access_key: ACCESS_KEY,
      type: 'management',
      version: 2,
      iat,
      nbf: iat,
      exp: iat + 24 * 60 * 60,
      jti: expect.stringMatching(UUID),
    });
  });

  it('is cached, re-minted when under an hour is left, and on demand', async () => {
    let clock = Date.parse('2025-06-01T12:00:00Z');
    const tokens = new ManagementTokens({ accessKey: ACCESS_KEY, appSecret: APP_SECRET, now: () => clock });
    const first = await tokens.get();
    expect(await tokens.get()).toBe(first);
    clock += 22 * 60 * 60 * 1000;
    expect(await tokens.get()).toBe(first);
    clock += 60 * 60 * 1000;
    const second = await tokens.get();
    expect(second).not.toBe(first);
    expect(decodeJwt(second).iat).toBe(clock / 1000 - 10);
    tokens.invalidate();
    expect(await tokens.get()).not.toBe(second);
  });

  it('mints once for concurrent callers', async () => {
    const tokens = new ManagementTokens({ accessKey: ACCESS_KEY, appSecret: APP_SECRET });
    const all = await Promise.all([tokens.get(), tokens.get(), tokens.get()]);
    expect(new Set(all).size).toBe(1);
  });
});

describe('100ms provider against the fake API', () => {
  let fake: FakeHms;
  let provider: Provider;

  beforeEach(async () => {
    fake = await FakeHms.start({ accessKey: ACCESS_KEY, appSecret: APP_SECRET });
    provider = providerFor(fake);
  });
  afterEach(async () => {
    await fake.close();
  });

  it('is not configured without credentials', () => {
    expect(createHmsProvider(loadConfig({}))).toBeNull();
    expect(provider.capabilities).toEqual({ livestreams: true, recordings: true, webhooks: true });
  });

  it('starts a live stream with the documented request and maps the answer', async () => {
    const observation = await provider.startLivestream({
      streamId: 'ours-1',
      roomId: 'room-1',
      meetingUrl: 'https://acme.app.100ms.live/preview/room-1/beam?skip_preview=true',
      recording: { hlsVod: true, singleFilePerLayer: false },
      destination: 'youtube-main',
      name: 'ignored by 100ms',
      video: { width: 1280, height: 720 },
    });
    const [request] = fake.requests;
    expect(fake.requests).toHaveLength(1);
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/live-streams/room/room-1/start');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.body).toEqual({
      meeting_url: 'https://acme.app.100ms.live/preview/room-1/beam?skip_preview=true',
      recording: { hls_vod: true, single_file_per_layer: false },
      destination: 'youtube-main',
    });
    const token = request?.headers.authorization?.replace(/^Bearer /, '') ?? '';
    expect(decodeJwt(token)).toMatchObject({ access_key: ACCESS_KEY, type: 'management', version: 2 });

    const job = fake.jobsInRoom('live-streams', 'room-1')[0];
    const { raw, ...mapped } = observation;
    // The job as 100ms answered it, kept in history.
    expect(raw).toMatchObject({ id: job?.id, room_id: 'room-1', status: 'starting', destination: 'youtube-main' });
    expect(mapped).toEqual({
      status: 'STARTING',
      vendorStatus: 'starting',
      externalId: job?.id,
      sessionId: 'session-room-1',
      playbackUrl: `https://fake-hms-cdn.invalid/beam/${job?.id}/master.m3u8`,
    });
  });

  it('sends an empty body when no option is given', async () => {
    await provider.startLivestream({ streamId: 'ours-1', roomId: 'room/with space' });
    expect(fake.requests[0]?.path).toBe('/live-streams/room/room%2Fwith%20space/start');
    expect(fake.requests[0]?.body).toEqual({});
  });

  it('stops and reads a live stream, reusing one token', async () => {
    const started = await provider.startLivestream({ streamId: 'ours-1', roomId: 'room-1' });
    const id = started.externalId as string;
    fake.setStatus(id, 'running');
    expect(await provider.fetchLivestream(ref(id))).toMatchObject({ status: 'LIVE', vendorStatus: 'running' });

    const stopped = await provider.stopLivestream(ref(id));
    expect(stopped).toMatchObject({ status: 'STOPPING', vendorStatus: 'stopping', externalId: id });
    expect(fake.requests.slice(1).map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /live-streams/${id}`,
      `POST /live-streams/${id}/stop`,
    ]);
    expect(fake.requests.at(-1)?.body).toBeUndefined();

    for (const [vendor, ours] of [
      ['post_processing', 'STOPPING'],
      ['completed', 'STOPPED'],
    ]) {
      fake.setStatus(id, vendor as string);
      expect(await provider.fetchLivestream(ref(id))).toMatchObject({ status: ours, vendorStatus: vendor });
    }
    const tokens = new Set(fake.requests.map((r) => r.headers.authorization));
    expect(tokens.size).toBe(1);
  });

  it('reports a failed live stream with a reason', async () => {
    const started = await provider.startLivestream({ streamId: 'ours-1', roomId: 'room-1' });
    fake.setStatus(started.externalId as string, 'failed');
    expect(await provider.fetchLivestream(ref(started.externalId as string))).toMatchObject({
      status: 'FAILED',
      vendorStatus: 'failed',
      failureReason: expect.stringContaining('failed'),
    });
  });

  it('answers null for an unknown stream and for an undocumented status', async () => {
    expect(await provider.fetchLivestream(ref('no-such-stream'))).toBeNull();
    expect(fake.requests[0]?.path).toBe('/live-streams/no-such-stream');
    const started = await provider.startLivestream({ streamId: 'ours-1', roomId: 'room-1' });
    fake.setStatus(started.externalId as string, 'hibernating');
    expect(await provider.fetchLivestream(ref(started.externalId as string))).toBeNull();
  });

  it('answers how a stream ended when 100ms refuses to stop it again', async () => {
    const started = await provider.startLivestream({ streamId: 'ours-1', roomId: 'room-1' });
    const id = started.externalId as string;
    fake.setStatus(id, 'completed');
    expect(await provider.stopLivestream(ref(id))).toMatchObject({ status: 'STOPPED', vendorStatus: 'completed' });
    expect(fake.requests.slice(1).map((r) => `${r.method} ${r.path}`)).toEqual([
      `POST /live-streams/${id}/stop`,
      `GET /live-streams/${id}`,
    ]);
  });

  it('passes a refused stop on with 100ms message', async () => {
    const error = await rejection(provider.stopLivestream(ref('no-such-stream')));
    expect(error.code).toBe('PROVIDER_REJECTED');
    expect(error.message).toContain('live stream not found');
  });

  it('starts, stops and reads a recording with the documented requests', async () => {
    const started = await provider.startRecording({
      recordingId: 'ours-rec',
      roomId: 'room-2',
      meetingUrl: 'https://acme.app.100ms.live/preview/room-2/beam?skip_preview=true',
      resolution: { width: 1280, height: 720 },
      audioOnly: false,
    });
    expect(fake.requests[0]).toMatchObject({
      method: 'POST',
      path: '/recordings/room/room-2/start',
      body: {
        meeting_url: 'https://acme.app.100ms.live/preview/room-2/beam?skip_preview=true',
        resolution: { width: 1280, height: 720 },
        audio_only: false,
      },
    });
    const id = started.externalId as string;
    const { raw, ...mapped } = started;
    expect(raw).toMatchObject({ id, room_id: 'room-2', status: 'starting' });
    expect(mapped).toEqual({
      status: 'STARTING',
      vendorStatus: 'starting',
      externalId: id,
      sessionId: 'session-room-2',
    });

    fake.setStatus(id, 'running');
    expect(await provider.fetchRecording(ref(id, 'room-2'))).toMatchObject({ status: 'RECORDING' });
    expect(await provider.stopRecording(ref(id, 'room-2'))).toMatchObject({ status: 'STOPPING' });
    fake.setStatus(id, 'post_processing');
    expect(await provider.fetchRecording(ref(id, 'room-2'))).toMatchObject({ status: 'UPLOADING' });
    expect(fake.requests.slice(1).map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /recordings/${id}`,
      `POST /recordings/${id}/stop`,
      `GET /recordings/${id}`,
    ]);
  });

  it('lists and pre-signs the assets of a completed recording', async () => {
    const started = await provider.startRecording({
      recordingId: 'ours-rec',
      roomId: 'room-2',
      meetingUrl: 'https://acme.app.100ms.live/preview/room-2/beam',
    });
    const id = started.externalId as string;
    fake.setStatus(id, 'completed');
    const before = Date.now();
    const observation = await provider.fetchRecording(ref(id, 'room-2'));
    const asset = [...fake.assets.values()][0];
    expect(observation).toMatchObject({ status: 'COMPLETED', vendorStatus: 'completed', externalId: id });
    expect(observation?.assets).toEqual([
      {
        externalId: asset?.id,
        type: 'room-composite',
        path: asset?.path,
        size: 7_340_032,
        durationSeconds: 125,
        url: `https://fake-hms-storage.invalid/${asset?.id}.mp4?X-Amz-Expires=86400`,
        urlExpiresAt: expect.any(Date),
      },
    ]);
    const expiresAt = observation?.assets?.[0]?.urlExpiresAt?.getTime() ?? 0;
    expect(expiresAt).toBeGreaterThanOrEqual(before + 86_400_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 86_400_000);

    const reads = fake.requests.slice(1);
    expect(reads[0]?.path).toBe(`/recordings/${id}`);
    expect(reads[1]).toMatchObject({ method: 'GET', path: '/recording-assets', query: { room_id: 'room-2' } });
    expect(reads.at(-1)).toMatchObject({
      method: 'GET',
      path: `/recording-assets/${asset?.id}/presigned-url`,
      query: { presign_duration: '86400' },
    });
  });

  it('uses recording_assets from the recording object when 100ms includes them', async () => {
    fake.assetsOnObject = true;
    const started = await provider.startRecording({
      recordingId: 'ours-rec',
      roomId: 'room-2',
      meetingUrl: 'https://acme.app.100ms.live/preview/room-2/beam',
    });
    fake.setStatus(started.externalId as string, 'completed');
    const observation = await provider.fetchRecording(ref(started.externalId as string, 'room-2'));
    expect(observation?.assets).toHaveLength(1);
    expect(observation?.assets?.[0]?.url).toMatch(/^https:\/\/fake-hms-storage\.invalid\//);
    expect(fake.calls('GET', /^\/recording-assets$/)).toHaveLength(0);
  });

  it('passes on 100ms message when it refuses a recording (meeting_url missing)', async () => {
    const error = await rejection(provider.startRecording({ recordingId: 'ours-rec', roomId: 'room-2' }));
    expect(error.code).toBe('PROVIDER_REJECTED');
    expect(error.message).toContain('meeting_url is required');
    expect(fake.requests[0]?.body).toEqual({});
  });

  it('re-mints the token once when 100ms refuses it, then succeeds', async () => {
    await provider.startLivestream({ streamId: 'ours-1', roomId: 'room-1' });
    const firstToken = fake.requests[0]?.headers.authorization;
    fake.revokeIssuedTokens();
    const id = fake.jobsInRoom('live-streams', 'room-1')[0]?.id as string;
    expect(await provider.fetchLivestream(ref(id))).toMatchObject({ status: 'STARTING' });
    const reads = fake.calls('GET', /^\/live-streams\//);
    expect(reads).toHaveLength(2);
    expect(reads[0]?.headers.authorization).toBe(firstToken);
    expect(reads[1]?.headers.authorization).not.toBe(firstToken);
  });

  it('refuses a wrong secret with 100ms message, after exactly one re-mint, without leaking it', async () => {
    const wrong = providerFor(fake, { HMS_APP_SECRET: 'a-wrong-secret-value-7731' });
    const error = await rejection(wrong.startLivestream({ streamId: 'ours-1', roomId: 'room-1' }));
    expect(error.code).toBe('PROVIDER_REJECTED');
    expect(error.vendorStatusCode).toBe(401);
    expect(error.message).toContain('Unauthorized: invalid management token');
    expect(fake.calls('POST', /\/start$/)).toHaveLength(2);
    expect(fake.jobsInRoom('live-streams', 'room-1')).toHaveLength(0);
    for (const request of fake.requests) {
      const token = request.headers.authorization?.replace(/^Bearer /, '') ?? '';
      expect(error.message).not.toContain(token);
    }
    expect(error.message).not.toContain('a-wrong-secret-value-7731');
  });

  it('honours Retry-After on a read', async () => {
    const started = await provider.startLivestream({ streamId: 'ours-1', roomId: 'room-1' });
    fake.fail('rateLimit', { method: 'GET', retryAfterSeconds: 1 });
    const before = Date.now();
    expect(await provider.fetchLivestream(ref(started.externalId as string))).toMatchObject({ status: 'STARTING' });
    expect(Date.now() - before).toBeGreaterThanOrEqual(900);
    expect(fake.calls('GET', /^\/live-streams\//)).toHaveLength(2);
  });

  it('sends a start again after a 429, once Retry-After has passed, and starts one recording', async () => {
    // A 429 means 100ms did nothing, so sending the start again can not make a second recording.
    fake.fail('rateLimit', { method: 'POST', path: /\/start$/, retryAfterSeconds: 1 });
    const before = Date.now();
    const observation = await provider.startRecording({
      recordingId: 'r',
      roomId: 'room-1',
      meetingUrl: 'https://x.test/',
    });
    expect(Date.now() - before).toBeGreaterThanOrEqual(900);
    const jobs = fake.jobsInRoom('recordings', 'room-1');
    expect(jobs).toHaveLength(1);
    expect(observation).toMatchObject({ status: 'STARTING', externalId: jobs[0]?.id });
    expect(fake.calls('POST', /\/recordings\/room\/room-1\/start$/)).toHaveLength(2);
    expect(fake.calls('GET', /^\/recordings$/)).toHaveLength(0);
  });

  it('answers RATE_LIMITED to a start 100ms keeps refusing with 429, after the retries', async () => {
    // More refusals than attempts (VENDOR_MAX_RETRIES=2: three in all).
    fake.fail('rateLimit', { method: 'POST', path: /\/start$/, retryAfterSeconds: 0, times: 10 });
    const error = await rejection(
      provider.startRecording({ recordingId: 'r', roomId: 'room-1', meetingUrl: 'https://x.test/' }),
    );
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.message).not.toContain(APP_SECRET);
    expect(fake.calls('POST', /\/recordings\/room\/room-1\/start$/)).toHaveLength(3);
    // A 429 is not a maybe: no read of the room either.
    expect(fake.calls('GET', /^\/recordings$/)).toHaveLength(0);
    expect(fake.jobsInRoom('recordings', 'room-1')).toHaveLength(0);
  });

  it('retries reads through 5xx and malformed answers', async () => {
    const started = await provider.startLivestream({ streamId: 'ours-1', roomId: 'room-1' });
    const id = started.externalId as string;
    for (const mode of ['error500', 'malformed'] as const) {
      fake.fail(mode, { method: 'GET' });
      expect(await provider.fetchLivestream(ref(id))).toMatchObject({ status: 'STARTING' });
    }
    expect(fake.calls('GET', /^\/live-streams\//)).toHaveLength(4);
  });

  it('gives up on a read that never answers with PROVIDER_UNAVAILABLE', async () => {
    const started = await provider.startLivestream({ streamId: 'ours-1', roomId: 'room-1' });
    // As many hangs as attempts, so the outcome is the same whether or not timeouts are retried.
    fake.fail('hang', { method: 'GET', times: 3 });
    const error = await rejection(provider.fetchLivestream(ref(started.externalId as string)));
    expect(error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(error.message).toContain('did not answer in time');
  });

  for (const [mode, code] of [
    ['error500', 'PROVIDER_UNAVAILABLE'],
    ['hang', 'PROVIDER_UNAVAILABLE'],
    ['malformed', 'PROVIDER_UNAVAILABLE'],
  ] as const) {
    it(`adopts the stream 100ms started despite a ${mode} answer, with one start call`, async () => {
      fake.fail(mode, { method: 'POST', path: /\/start$/, act: true });
      const observation = await provider.startLivestream({ streamId: 'ours-1', roomId: 'room-1' });
      const job = fake.jobsInRoom('live-streams', 'room-1')[0];
      expect(observation).toMatchObject({ status: 'STARTING', externalId: job?.id, playbackUrl: expect.any(String) });
      expect(fake.calls('POST', /\/start$/)).toHaveLength(1);
      expect(fake.calls('GET', /^\/live-streams$/).map((r) => r.query)).toContainEqual(
        expect.objectContaining({ room_id: 'room-1', status: 'starting' }),
      );
    });

    it(`fails a start with ${code} on a ${mode} answer when 100ms started nothing`, async () => {
      fake.fail(mode, { method: 'POST', path: /\/start$/ });
      const error = await rejection(
        provider.startRecording({ recordingId: 'r', roomId: 'room-3', meetingUrl: 'https://x.test/' }),
      );
      expect(error.code).toBe(code);
      expect(error.message).not.toContain(APP_SECRET);
      expect(fake.calls('POST', /\/start$/)).toHaveLength(1);
      expect(fake.calls('GET', /^\/recordings$/).length).toBeGreaterThan(0);
    });
  }

  it('adopts a recording that is already running after an unclear start', async () => {
    fake.fail('hang', { method: 'POST', path: /\/start$/, act: true });
    const started = provider.startRecording({ recordingId: 'r', roomId: 'room-4', meetingUrl: 'https://x.test/' });
    await waitFor(() => fake.jobsInRoom('recordings', 'room-4').length === 1);
    const id = fake.jobsInRoom('recordings', 'room-4')[0]?.id as string;
    fake.setStatus(id, 'running');
    expect(await started).toMatchObject({ status: 'RECORDING', externalId: id });
    expect(fake.calls('POST', /\/start$/)).toHaveLength(1);
  });
});

const WATCH_LIVESTREAM = `subscription Watch($id: ID!) {
  livestreamChanged(id: $id) { id status vendorStatus version playbackUrl }
}`;
const WATCH_RECORDING = `subscription Watch($id: ID!) {
  recordingChanged(id: $id) { id status vendorStatus version }
}`;
const READ_LIVESTREAM = `query($id: ID!) { livestream(id: $id) { status vendorStatus failureReason externalId } }`;
const ACTIVE = `query($roomId: String) { activeLivestreams(provider: HMS, roomId: $roomId) { id status } }`;
const ACTIVE_RECORDINGS = `query($roomId: String) { activeRecordings(provider: HMS, roomId: $roomId) { id status } }`;

function distinctStatuses(events: { status: string }[]): string[] {
  return events.map((e) => e.status).filter((s, i, all) => s !== all[i - 1]);
}

describe('100ms through the GraphQL API', () => {
  let fake: FakeHms;
  let server: TestServer;

  beforeAll(async () => {
    fake = await FakeHms.start({ accessKey: ACCESS_KEY, appSecret: APP_SECRET });
    server = await startServer(hmsEnv(fake));
  });
  afterAll(async () => {
    await server.cleanup();
    await fake.close();
  });

  it('lists 100ms as configured with its capabilities', async () => {
    const result = await gql(server.url, '{ providers { provider configured livestreams recordings webhooks } }');
    expect(result.data?.providers).toContainEqual({
      provider: 'HMS',
      configured: true,
      livestreams: true,
      recordings: true,
      webhooks: true,
    });
  });

  it('runs a live stream through its whole life, learning each status by polling', async () => {
    const started = await gql(server.url, START_LIVESTREAM, {
      input: {
        provider: 'HMS',
        roomId: 'gql-live',
        meetingUrl: 'https://acme.app.100ms.live/preview/gql-live/beam',
        recording: { hlsVod: true },
      },
    });
    expect(started.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    const livestream = started.data?.startLivestream.livestream;
    const externalId = livestream.externalId as string;
    expect(livestream).toMatchObject({ provider: 'HMS', status: 'STARTING', vendorStatus: 'starting' });
    expect(livestream.playbackUrl).toBe(`https://fake-hms-cdn.invalid/beam/${externalId}/master.m3u8`);
    expect(fake.calls('POST', /^\/live-streams\/room\/gql-live\/start$/)[0]?.body).toEqual({
      meeting_url: 'https://acme.app.100ms.live/preview/gql-live/beam',
      recording: { hls_vod: true },
    });

    const client = wsClient(server.wsUrl);
    const watch = collect(client, WATCH_LIVESTREAM, { id: livestream.id });
    await watch.waitFor(1);
    fake.setStatus(externalId, 'running');
    await waitFor(() => watch.events.some((e) => e.livestreamChanged.status === 'LIVE'));

    const stopped = await gql(server.url, STOP_LIVESTREAM, { id: livestream.id });
    expect(stopped.data?.stopLivestream.livestream.status).toBe('STOPPING');
    expect(fake.calls('POST', new RegExp(`^/live-streams/${externalId}/stop$`))).toHaveLength(1);

    fake.setStatus(externalId, 'post_processing');
    await waitFor(
      async () =>
        (await gql(server.url, READ_LIVESTREAM, { id: livestream.id })).data?.livestream.vendorStatus ===
        'post_processing',
    );
    fake.setStatus(externalId, 'completed');
    await watch.completed;
    await client.dispose();

    const events = watch.events.map((e) => e.livestreamChanged);
    expect(distinctStatuses(events)).toEqual(['STARTING', 'LIVE', 'STOPPING', 'STOPPED']);
    expect(events.at(-1)).toMatchObject({ status: 'STOPPED', vendorStatus: 'completed' });
    expect((await gql(server.url, ACTIVE, { roomId: 'gql-live' })).data?.activeLivestreams).toEqual([]);
  });

  it('keeps the current status when 100ms reports a status it does not document', async () => {
    const started = await gql(server.url, START_LIVESTREAM, { input: { provider: 'HMS', roomId: 'gql-odd' } });
    const livestream = started.data?.startLivestream.livestream;
    fake.setStatus(livestream.externalId, 'running');
    await waitFor(
      async () => (await gql(server.url, READ_LIVESTREAM, { id: livestream.id })).data?.livestream.status === 'LIVE',
    );
    fake.setStatus(livestream.externalId, 'rebalancing');
    const polls = fake.calls('GET', new RegExp(`^/live-streams/${livestream.externalId}$`)).length;
    await waitFor(() => fake.calls('GET', new RegExp(`^/live-streams/${livestream.externalId}$`)).length >= polls + 3);
    expect((await gql(server.url, READ_LIVESTREAM, { id: livestream.id })).data?.livestream).toMatchObject({
      status: 'LIVE',
      vendorStatus: 'running',
    });
    fake.setStatus(livestream.externalId, 'failed');
    await waitFor(
      async () => (await gql(server.url, READ_LIVESTREAM, { id: livestream.id })).data?.livestream.status === 'FAILED',
    );
  });

  it('runs a recording through its whole life and ends with a downloadable asset', async () => {
    const started = await gql(server.url, START_RECORDING, {
      input: {
        provider: 'HMS',
        roomId: 'gql-rec',
        meetingUrl: 'https://acme.app.100ms.live/preview/gql-rec/beam',
        resolution: { width: 1920, height: 1080 },
        audioOnly: false,
      },
    });
    expect(started.data?.startRecording.__typename).toBe('StartRecordingSuccess');
    const recording = started.data?.startRecording.recording;
    const externalId = recording.externalId as string;
    expect(fake.calls('POST', /^\/recordings\/room\/gql-rec\/start$/)[0]?.body).toEqual({
      meeting_url: 'https://acme.app.100ms.live/preview/gql-rec/beam',
      resolution: { width: 1920, height: 1080 },
      audio_only: false,
    });

    const client = wsClient(server.wsUrl);
    const watch = collect(client, WATCH_RECORDING, { id: recording.id });
    await watch.waitFor(1);
    fake.setStatus(externalId, 'running');
    await waitFor(() => watch.events.some((e) => e.recordingChanged.status === 'RECORDING'));
    const stopped = await gql(server.url, STOP_RECORDING, { id: recording.id });
    expect(stopped.data?.stopRecording.recording.status).toBe('STOPPING');
    fake.setStatus(externalId, 'post_processing');
    await waitFor(() => watch.events.some((e) => e.recordingChanged.status === 'UPLOADING'));
    fake.setStatus(externalId, 'completed');
    await watch.completed;
    await client.dispose();

    const events = watch.events.map((e) => e.recordingChanged);
    expect(distinctStatuses(events)).toEqual(['STARTING', 'RECORDING', 'STOPPING', 'UPLOADING', 'COMPLETED']);
    expect(events.at(-1)).toMatchObject({ status: 'COMPLETED', vendorStatus: 'completed' });
    const asset = [...fake.assets.values()].find((a) => a.job_id === externalId);
    const read = await gql(
      server.url,
      `query($id: ID!) { recording(id: $id) { status stoppedAt assets { id type path size durationSeconds url urlExpiresAt } } }`,
      { id: recording.id },
    );
    expect(read.data?.recording.status).toBe('COMPLETED');
    expect(read.data?.recording.stoppedAt).not.toBeNull();
    expect(read.data?.recording.assets).toEqual([
      {
        id: expect.any(String),
        type: 'room-composite',
        path: asset?.path,
        size: 7_340_032,
        durationSeconds: 125,
        url: `https://fake-hms-storage.invalid/${asset?.id}.mp4?X-Amz-Expires=86400`,
        urlExpiresAt: expect.any(String),
      },
    ]);
    const expiresAt = Date.parse(read.data?.recording.assets[0].urlExpiresAt);
    expect(Math.abs(expiresAt - (Date.now() + 86_400_000))).toBeLessThan(60_000);
    expect((await gql(server.url, ACTIVE_RECORDINGS, { roomId: 'gql-rec' })).data?.activeRecordings).toEqual([]);
  });

  for (const [mode, code] of [
    ['error500', 'PROVIDER_UNAVAILABLE'],
    ['hang', 'PROVIDER_UNAVAILABLE'],
    ['malformed', 'PROVIDER_UNAVAILABLE'],
  ] as const) {
    it(`fails a start on ${mode} with ${code}, leaves nothing active, and a second start works`, async () => {
      const roomId = `gql-fail-${mode}`;
      fake.fail(mode, { method: 'POST', path: /\/start$/ });
      const failed = await gql(server.url, START_LIVESTREAM, { input: { provider: 'HMS', roomId } });
      expect(failed.data?.startLivestream).toMatchObject({ __typename: 'ProviderError', code, provider: 'HMS' });
      expect(failed.data?.startLivestream.message).not.toContain(APP_SECRET);
      expect(fake.calls('POST', new RegExp(`^/live-streams/room/${roomId}/start$`))).toHaveLength(1);

      const rows = await gql(
        server.url,
        `query($roomId: String) { livestreams(provider: HMS, roomId: $roomId) { edges { node { status failureReason } } } }`,
        { roomId },
      );
      const [row] = rows.data?.livestreams.edges ?? [];
      expect(row?.node.status).toBe('FAILED');
      expect(row?.node.failureReason).toContain(code);
      expect((await gql(server.url, ACTIVE, { roomId })).data?.activeLivestreams).toEqual([]);

      const again = await gql(server.url, START_LIVESTREAM, { input: { provider: 'HMS', roomId } });
      expect(again.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
      expect(again.data?.startLivestream.livestream.status).toBe('STARTING');
    });
  }

  it('waits the Retry-After of a 429 on a start, sends it again and ends with one live stream', async () => {
    const roomId = 'gql-429-once';
    fake.fail('rateLimit', { method: 'POST', path: /\/start$/, retryAfterSeconds: 1 });
    const before = Date.now();
    const started = await gql(server.url, START_LIVESTREAM, { input: { provider: 'HMS', roomId } });
    expect(Date.now() - before).toBeGreaterThanOrEqual(900);
    expect(started.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    expect(fake.calls('POST', new RegExp(`^/live-streams/room/${roomId}/start$`))).toHaveLength(2);
    const jobs = fake.jobsInRoom('live-streams', roomId);
    expect(jobs).toHaveLength(1);
    const livestream = started.data?.startLivestream.livestream;
    expect(livestream).toMatchObject({ status: 'STARTING', externalId: jobs[0]?.id });
    expect((await gql(server.url, ACTIVE, { roomId })).data?.activeLivestreams).toEqual([
      { id: livestream.id, status: 'STARTING' },
    ]);
    const stopped = await gql(server.url, STOP_LIVESTREAM, { id: livestream.id });
    expect(stopped.data?.stopLivestream.livestream.status).toBe('STOPPING');
  });

  it('fails a start 100ms keeps refusing with 429 with RATE_LIMITED, leaves nothing active, and a second start works', async () => {
    const roomId = 'gql-429-always';
    // More refusals than attempts (VENDOR_MAX_RETRIES=2: three in all).
    fake.fail('rateLimit', { method: 'POST', path: /\/start$/, retryAfterSeconds: 0, times: 10 });
    const failed = await gql(server.url, START_LIVESTREAM, { input: { provider: 'HMS', roomId } });
    expect(failed.data?.startLivestream).toMatchObject({
      __typename: 'ProviderError',
      code: 'RATE_LIMITED',
      provider: 'HMS',
    });
    expect(failed.data?.startLivestream.message).not.toContain(APP_SECRET);
    expect(fake.calls('POST', new RegExp(`^/live-streams/room/${roomId}/start$`))).toHaveLength(3);
    expect(fake.jobsInRoom('live-streams', roomId)).toHaveLength(0);

    const rows = await gql(
      server.url,
      `query($roomId: String) { livestreams(provider: HMS, roomId: $roomId) { edges { node { status failureReason } } } }`,
      { roomId },
    );
    const [row] = rows.data?.livestreams.edges ?? [];
    expect(row?.node.status).toBe('FAILED');
    expect(row?.node.failureReason).toContain('RATE_LIMITED');
    expect((await gql(server.url, ACTIVE, { roomId })).data?.activeLivestreams).toEqual([]);

    fake.clearFailures();
    const again = await gql(server.url, START_LIVESTREAM, { input: { provider: 'HMS', roomId } });
    expect(again.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    expect(again.data?.startLivestream.livestream.status).toBe('STARTING');
    expect(fake.jobsInRoom('live-streams', roomId)).toHaveLength(1);
  });

  it('adopts the stream 100ms started when the start answer never came', async () => {
    fake.fail('hang', { method: 'POST', path: /\/start$/, act: true });
    const started = await gql(server.url, START_LIVESTREAM, { input: { provider: 'HMS', roomId: 'gql-adopt' } });
    expect(started.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    const [job] = fake.jobsInRoom('live-streams', 'gql-adopt');
    expect(started.data?.startLivestream.livestream).toMatchObject({ status: 'STARTING', externalId: job?.id });
    expect(fake.calls('POST', /^\/live-streams\/room\/gql-adopt\/start$/)).toHaveLength(1);
  });

  it('answers PROVIDER_REJECTED with 100ms message for a wrong credential, never the secret', async () => {
    const wrong = await startServer(hmsEnv(fake, { HMS_APP_SECRET: 'the-wrong-app-secret-1234' }));
    try {
      const result = await gql(wrong.url, START_LIVESTREAM, { input: { provider: 'HMS', roomId: 'gql-wrong' } });
      const answer = result.data?.startLivestream;
      expect(answer).toMatchObject({ __typename: 'ProviderError', code: 'PROVIDER_REJECTED', provider: 'HMS' });
      expect(answer.message).toContain('Unauthorized: invalid management token');
      expect(answer.message).not.toContain('the-wrong-app-secret-1234');
      expect(answer.message).not.toMatch(/eyJ[\w-]+\./);
      expect((await gql(wrong.url, ACTIVE, { roomId: 'gql-wrong' })).data?.activeLivestreams).toEqual([]);
    } finally {
      await wrong.cleanup();
    }
  });
});
