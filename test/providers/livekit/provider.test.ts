import { decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { ProviderError } from '../../../src/domain/errors.js';
import {
  camelizeKeys,
  EGRESS_STATUSES,
  egressKind,
  egressObservation,
  egressStatus,
  LIVEKIT_LIVESTREAM_STATUS,
  LIVEKIT_RECORDING_STATUS,
  parseEgressInfo,
  parseEgressList,
} from '../../../src/providers/livekit/egress.js';
import { createLivekitProvider, type LivekitProvider } from '../../../src/providers/livekit/index.js';
import { redactSecrets } from '../../../src/providers/livekit/redact.js';
import { EgressTokenMinter } from '../../../src/providers/livekit/token.js';
import type { StreamRef } from '../../../src/providers/provider.js';
import { LivekitFake } from '../../fakes/livekit.js';
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

const START = 'StartRoomCompositeEgress';
const DESTINATION = 'rtmp://live.example.com/app/sk_live_SECRET_KEY_123';

function providerFor(fake: LivekitFake, env: Record<string, string> = {}): LivekitProvider {
  const config = loadConfig({
    LIVEKIT_URL: fake.url,
    LIVEKIT_API_KEY: fake.apiKey,
    LIVEKIT_API_SECRET: fake.apiSecret,
    VENDOR_TIMEOUT_MS: '300',
    VENDOR_MAX_RETRIES: '2',
    ...env,
  });
  const provider = createLivekitProvider(config);
  if (!provider) throw new Error('LiveKit provider should be configured');
  return provider as LivekitProvider;
}

function ref(externalId: string | null, roomId = 'room'): StreamRef {
  return { id: 'ours-1', roomId, externalId, sessionId: null };
}

async function providerFailure(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderError);
    return error as ProviderError;
  }
  throw new Error('expected the call to fail');
}

const EXPECTED_MAPPING = {
  EGRESS_STARTING: { livestream: 'STARTING', recording: 'STARTING' },
  EGRESS_ACTIVE: { livestream: 'LIVE', recording: 'RECORDING' },
  EGRESS_ENDING: { livestream: 'STOPPING', recording: 'UPLOADING' },
  EGRESS_COMPLETE: { livestream: 'STOPPED', recording: 'COMPLETED' },
  EGRESS_FAILED: { livestream: 'FAILED', recording: 'FAILED' },
  EGRESS_ABORTED: { livestream: 'FAILED', recording: 'FAILED' },
  EGRESS_LIMIT_REACHED: { livestream: 'STOPPED', recording: 'COMPLETED' },
} as const;

describe('LiveKit egress mapping', () => {
  it('maps every documented EgressStatus, by name and by enum number', () => {
    expect(EGRESS_STATUSES).toEqual(Object.keys(EXPECTED_MAPPING));
    EGRESS_STATUSES.forEach((name, index) => {
      expect(LIVEKIT_LIVESTREAM_STATUS[name]).toBe(EXPECTED_MAPPING[name].livestream);
      expect(LIVEKIT_RECORDING_STATUS[name]).toBe(EXPECTED_MAPPING[name].recording);
      expect(egressStatus(name)).toBe(name);
      expect(egressStatus(index)).toBe(name);
      const info = parseEgressInfo({ egress_id: 'EG_1', status: index === 0 ? undefined : index })!;
      expect(egressObservation('livestream', info).status).toBe(EXPECTED_MAPPING[name].livestream);
      expect(egressObservation('recording', info).status).toBe(EXPECTED_MAPPING[name].recording);
      expect(egressObservation('recording', info).vendorStatus).toBe(name);
    });
  });

  it('reads a missing status as EGRESS_STARTING (proto3 omits the zero value) and refuses undocumented ones', () => {
    expect(egressStatus(undefined)).toBe('EGRESS_STARTING');
    expect(egressObservation('livestream', parseEgressInfo({ egress_id: 'EG_1' })!)).toMatchObject({
      status: 'STARTING',
      vendorStatus: 'EGRESS_STARTING',
    });
    expect(egressStatus('EGRESS_PAUSED')).toBeNull();
    expect(egressStatus(7)).toBeNull();
    expect(() => egressObservation('recording', parseEgressInfo({ status: 'EGRESS_PAUSED' })!)).toThrow(
      /undocumented egress status/,
    );
  });

  it('reads snake_case and camelCase answers alike, int64 strings included', () => {
    const snake = {
      egress_id: 'EG_abc',
      room_id: 'RM_1',
      room_name: 'studio',
      status: 'EGRESS_COMPLETE',
      started_at: '1700000000000000000',
      ended_at: '1700000012500000000',
      room_composite: { room_name: 'studio', file_outputs: [{ filepath: 'recordings/r1.mp4' }] },
      file_results: [
        {
          filename: 'recordings/r1.mp4',
          location: 's3://bucket/recordings/r1.mp4',
          size: '2048',
          duration: '12500000000',
          started_at: '1700000000000000000',
        },
      ],
    };
    const camel = camelizeKeys(snake) as Record<string, unknown>;
    expect(camel.egressId).toBe('EG_abc');
    expect(parseEgressInfo(snake)).toEqual(parseEgressInfo(camel));
    const info = parseEgressInfo(camel)!;
    expect(info.startedAt).toBe(1.7e18);
    expect(egressKind(info)).toBe('recording');
    expect(egressObservation('recording', info)).toEqual({
      status: 'COMPLETED',
      vendorStatus: 'EGRESS_COMPLETE',
      externalId: 'EG_abc',
      sessionId: 'RM_1',
      assets: [
        {
          externalId: 'recordings/r1.mp4',
          type: 'file',
          path: 's3://bucket/recordings/r1.mp4',
          size: 2048,
          durationSeconds: 12.5,
          url: null,
          urlExpiresAt: null,
        },
      ],
    });
    expect(parseEgressList({})).toEqual([]);
    expect(parseEgressList({ items: [snake] })).toEqual([info]);
    expect(parseEgressList('not json')).toBeNull();
  });

  it('takes the playlist location of segment results as the playback URL and errors as failure reason', () => {
    const live = parseEgressInfo({
      egressId: 'EG_2',
      status: 'EGRESS_ACTIVE',
      segmentResults: [{ playlistName: 'index.m3u8', playlistLocation: 'https://cdn.example.com/ls/index.m3u8' }],
    })!;
    expect(egressKind(live)).toBe('livestream');
    expect(egressObservation('livestream', live).playbackUrl).toBe('https://cdn.example.com/ls/index.m3u8');
    const failed = parseEgressInfo({ egress_id: 'EG_3', status: 4, error: `could not connect to ${DESTINATION}` })!;
    const observation = egressObservation('livestream', failed);
    expect(observation.failureReason).toBe('could not connect to rtmp://live.example.com/[redacted]');
  });

  it('redacts secrets, JWTs and stream URL paths from messages', () => {
    const text = 'invalid token: eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJrIn0.c2ln, key APIkey1 for rtmps://x.test/a/b';
    expect(redactSecrets(text, ['APIkey1'])).toBe(
      'invalid token: [redacted], key [redacted] for rtmps://x.test/[redacted]',
    );
  });

  it('mints short-lived roomRecord tokens and re-mints them before they expire', async () => {
    const minter = new EgressTokenMinter('APIkey', 'secret-secret-secret');
    const now = Date.now();
    const first = await minter.token(now);
    expect(await minter.token(now + 60_000)).toBe(first);
    const later = await minter.token(now + 9.5 * 60_000);
    expect(later).not.toBe(first);
    const { payload } = await jwtVerify(first, new TextEncoder().encode('secret-secret-secret'), {
      issuer: 'APIkey',
      currentDate: new Date(now),
    });
    expect(payload.video).toEqual({ roomRecord: true });
    expect(payload.exp! - Math.floor(now / 1000)).toBe(600);
  });
});

describe('LiveKit provider against the fake', () => {
  let fake: LivekitFake;
  let provider: LivekitProvider;

  beforeEach(async () => {
    fake = await LivekitFake.start();
    provider = providerFor(fake);
  });
  afterEach(async () => {
    await fake.close();
  });

  it('is not configured without credentials', () => {
    expect(createLivekitProvider(loadConfig({}))).toBeNull();
    expect(provider.configured).toBe(true);
    expect(provider.capabilities).toEqual({ livestreams: true, recordings: true, webhooks: true });
  });

  it('starts an RTMP livestream with a signed roomRecord token and the exact Twirp body', async () => {
    const observation = await provider.startLivestream({
      streamId: 'ls-1',
      roomId: 'studio',
      meetingUrl: 'https://layouts.example.com/grid',
      destination: DESTINATION,
      video: { width: 1920, height: 1080 },
    });
    const call = fake.calls(START)[0]!;
    expect(call.method).toBe('POST');
    expect(call.path).toBe('/twirp/livekit.Egress/StartRoomCompositeEgress');
    expect(call.headers['content-type']).toBe('application/json');
    expect(call.body).toEqual({
      room_name: 'studio',
      custom_base_url: 'https://layouts.example.com/grid',
      advanced: { width: 1920, height: 1080 },
      stream_outputs: [{ protocol: 'RTMP', urls: [DESTINATION] }],
    });
    const token = String(call.headers.authorization).replace(/^Bearer /, '');
    expect(decodeProtectedHeader(token).alg).toBe('HS256');
    const { payload } = await jwtVerify(token, new TextEncoder().encode(fake.apiSecret), { issuer: fake.apiKey });
    expect(payload.video).toEqual({ roomRecord: true });
    expect(payload.exp! - payload.nbf!).toBeLessThanOrEqual(610);
    const { raw, ...mapped } = observation;
    expect(mapped).toEqual({
      status: 'STARTING',
      vendorStatus: 'EGRESS_STARTING',
      externalId: fake.egressesInRoom('studio')[0]!.egressId,
      sessionId: fake.roomId('studio'),
    });
    // The EgressInfo as LiveKit sent it, kept in history.
    expect(raw).toMatchObject({ egress_id: mapped.externalId, room_name: 'studio' });
    // The destination is the caller's; it is not shown back as an ingest.
    expect(JSON.stringify(observation)).not.toContain('sk_live_SECRET_KEY_123');
  });

  it('starts an HLS livestream when no destination is given, and reports its playlist once live', async () => {
    const started = await provider.startLivestream({ streamId: 'ls-2', roomId: 'studio' });
    expect(fake.calls(START)[0]!.body).toEqual({
      room_name: 'studio',
      segment_outputs: [{ filename_prefix: 'livestreams/ls-2/', playlist_name: 'index.m3u8' }],
    });
    fake.setStatus(started.externalId!, 'EGRESS_ACTIVE');
    const live = await provider.fetchLivestream(ref(started.externalId!, 'studio'));
    expect(fake.calls('ListEgress').at(-1)!.body).toEqual({ egress_id: started.externalId });
    expect(live).toMatchObject({
      status: 'LIVE',
      vendorStatus: 'EGRESS_ACTIVE',
      playbackUrl: 'https://storage.livekit.test/livestreams/ls-2/index.m3u8',
    });
    const stopping = await provider.stopLivestream(ref(started.externalId!, 'studio'));
    expect(fake.calls('StopEgress')[0]!.body).toEqual({ egress_id: started.externalId });
    expect(stopping).toMatchObject({ status: 'STOPPING', vendorStatus: 'EGRESS_ENDING' });
    fake.setStatus(started.externalId!, 'EGRESS_LIMIT_REACHED');
    expect(await provider.fetchLivestream(ref(started.externalId!))).toMatchObject({ status: 'STOPPED' });
  });

  it('records to one MP4 and turns the file results into assets', async () => {
    const started = await provider.startRecording({
      recordingId: 'rec-1',
      roomId: 'studio',
      meetingUrl: 'https://layouts.example.com/speaker',
      resolution: { width: 1280, height: 720 },
      audioOnly: true,
    });
    expect(fake.calls(START)[0]!.body).toEqual({
      room_name: 'studio',
      custom_base_url: 'https://layouts.example.com/speaker',
      advanced: { width: 1280, height: 720 },
      audio_only: true,
      file_outputs: [{ filepath: 'recordings/rec-1.mp4', file_type: 'MP4' }],
    });
    expect(started.status).toBe('STARTING');
    fake.setStatus(started.externalId!, 'EGRESS_ACTIVE');
    expect(await provider.fetchRecording(ref(started.externalId!))).toMatchObject({ status: 'RECORDING' });
    expect(await provider.stopRecording(ref(started.externalId!))).toMatchObject({ status: 'UPLOADING' });
    fake.setStatus(started.externalId!, 'EGRESS_COMPLETE');
    expect(await provider.fetchRecording(ref(started.externalId!))).toMatchObject({
      status: 'COMPLETED',
      vendorStatus: 'EGRESS_COMPLETE',
      assets: [
        {
          externalId: 'recordings/rec-1.mp4',
          type: 'file',
          path: 'https://storage.livekit.test/recordings/rec-1.mp4',
          size: 1048576,
          durationSeconds: 12.5,
        },
      ],
    });
  });

  it('reads camelCase answers with numeric enums the same way', async () => {
    fake.jsonNames = 'camel';
    fake.enumsAsNumbers = true;
    const started = await provider.startLivestream({ streamId: 'ls-3', roomId: 'studio' });
    expect(started).toMatchObject({ status: 'STARTING', externalId: expect.stringMatching(/^EG_/) });
    fake.setStatus(started.externalId!, 'EGRESS_ACTIVE');
    expect(await provider.fetchLivestream(ref(started.externalId!))).toMatchObject({
      status: 'LIVE',
      vendorStatus: 'EGRESS_ACTIVE',
      sessionId: fake.roomId('studio'),
      playbackUrl: 'https://storage.livekit.test/livestreams/ls-3/index.m3u8',
    });
    fake.setStatus(started.externalId!, 'EGRESS_ABORTED', { error: 'room closed' });
    expect(await provider.fetchLivestream(ref(started.externalId!))).toMatchObject({
      status: 'FAILED',
      vendorStatus: 'EGRESS_ABORTED',
      failureReason: 'room closed',
    });
  });

  it('answers null for an egress LiveKit does not know (empty items or not_found)', async () => {
    expect(await provider.fetchRecording(ref('EG_unknown'))).toBeNull();
    fake.failNext(1, { rpc: 'ListEgress', status: 404, code: 'not_found', msg: 'egress does not exist' });
    expect(await provider.fetchRecording(ref('EG_unknown'))).toBeNull();
  });

  it('honours Retry-After on a rate-limited read', async () => {
    const started = await provider.startRecording({ recordingId: 'rec-2', roomId: 'studio' });
    fake.rateLimitNext(1, { rpc: 'ListEgress', retryAfterSeconds: 1 });
    const before = Date.now();
    expect(await provider.fetchRecording(ref(started.externalId!))).toMatchObject({ status: 'STARTING' });
    expect(Date.now() - before).toBeGreaterThanOrEqual(900);
    expect(fake.calls('ListEgress')).toHaveLength(2);
  });

  it('retries a stop after a 5xx that had landed, and answers the state LiveKit reports', async () => {
    const started = await provider.startLivestream({ streamId: 'ls-4', roomId: 'studio' });
    fake.setStatus(started.externalId!, 'EGRESS_ACTIVE');
    fake.failNext(1, { rpc: 'StopEgress', afterActing: true });
    expect(await provider.stopLivestream(ref(started.externalId!))).toMatchObject({
      status: 'STOPPING',
      vendorStatus: 'EGRESS_ENDING',
    });
    expect(fake.calls('StopEgress')).toHaveLength(2);
  });

  it('answers the current state when stopping an egress that already ended', async () => {
    const started = await provider.startRecording({ recordingId: 'rec-3', roomId: 'studio' });
    fake.setStatus(started.externalId!, 'EGRESS_COMPLETE');
    expect(await provider.stopRecording(ref(started.externalId!))).toMatchObject({ status: 'COMPLETED' });
  });

  it('refuses to stop an egress LiveKit does not know', async () => {
    const error = await providerFailure(provider.stopRecording(ref('EG_nope')));
    expect(error.code).toBe('PROVIDER_REJECTED');
    expect(error.message).toContain('egress does not exist');
  });

  it('surfaces LiveKit refusals with their msg, never the stream key', async () => {
    fake.failNext(1, {
      rpc: START,
      status: 400,
      code: 'invalid_argument',
      msg: `could not connect to ${DESTINATION}`,
    });
    const error = await providerFailure(
      provider.startLivestream({ streamId: 'ls-5', roomId: 'studio', destination: DESTINATION }),
    );
    expect(error.code).toBe('PROVIDER_REJECTED');
    expect(error.message).toContain('could not connect to [redacted]');
    expect(error.message).not.toContain('sk_live_SECRET_KEY_123');
    expect(fake.calls(START)).toHaveLength(1);
  });

  it('refuses a room LiveKit does not have', async () => {
    fake.rooms = new Set(['studio']);
    const error = await providerFailure(provider.startRecording({ recordingId: 'rec-4', roomId: 'nowhere' }));
    expect(error.code).toBe('PROVIDER_REJECTED');
    expect(error.message).toContain('requested room does not exist');
  });

  it('refuses a destination that is not RTMP without calling LiveKit or echoing it', async () => {
    const error = await providerFailure(
      provider.startLivestream({ streamId: 'ls-6', roomId: 'studio', destination: 'https://x.test/key_123456' }),
    );
    expect(error.code).toBe('PROVIDER_REJECTED');
    expect(error.message).not.toContain('key_123456');
    expect(fake.requests).toHaveLength(0);
  });

  it('sends a start once, and after a timeout adopts the egress it created', async () => {
    fake.hangNext(1, { rpc: START, afterActing: true });
    const observation = await provider.startLivestream({
      streamId: 'ls-7',
      roomId: 'studio',
      destination: DESTINATION,
    });
    expect(fake.calls(START)).toHaveLength(1);
    expect(fake.calls('ListEgress')[0]!.body).toEqual({ room_name: 'studio', active: true });
    expect(observation.externalId).toBe(fake.egressesInRoom('studio')[0]!.egressId);
  });

  it("does not adopt another caller's egress in the room after an ambiguous start", async () => {
    fake.addEgress('studio', { fileOutputs: [{ filepath: 'recordings/someone-else.mp4' }] });
    fake.addEgress('studio', {
      segmentOutputs: [{ filenamePrefix: 'livestreams/other/', playlistName: 'index.m3u8' }],
    });
    fake.failNext(1, { rpc: START });
    const error = await providerFailure(provider.startRecording({ recordingId: 'rec-5', roomId: 'studio' }));
    expect(error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(fake.calls(START)).toHaveLength(1);
    expect(fake.calls('ListEgress')).toHaveLength(1);
  });

  it('keeps the credentials out of a refused call', async () => {
    const wrong = providerFor(fake, { LIVEKIT_API_SECRET: 'wrong-secret-value-xyz' });
    const error = await providerFailure(wrong.fetchRecording(ref('EG_x')));
    expect(error.code).toBe('PROVIDER_REJECTED');
    expect(error.message).toMatch(/HTTP 401.*invalid token: \[redacted\], error: signature verification failed/);
    expect(error.message).not.toContain('wrong-secret-value-xyz');
    expect(error.message).not.toMatch(/eyJ/);
    const unknownKey = providerFor(fake, { LIVEKIT_API_KEY: 'APIunknownKey9' });
    const keyError = await providerFailure(unknownKey.fetchRecording(ref('EG_x')));
    expect(keyError.message).toContain('invalid API key: [redacted]');
    expect(keyError.message).not.toContain('APIunknownKey9');
  });

  it('checks tokens like LiveKit: no token or no roomRecord grant is 403, a bad signature 401', async () => {
    const post = (authorization?: string) =>
      fetch(`${fake.url}/twirp/livekit.Egress/ListEgress`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: '{}',
      });
    const sign = (claims: Record<string, unknown>, secret: string) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(fake.apiKey)
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode(secret));
    const none = await post();
    expect(none.status).toBe(403);
    expect(await none.json()).toEqual({ code: 'permission_denied', msg: 'permissions denied' });
    const noGrant = await post(`Bearer ${await sign({ video: { roomJoin: true } }, fake.apiSecret)}`);
    expect(noGrant.status).toBe(403);
    const badSignature = await post(`Bearer ${await sign({ video: { roomRecord: true } }, 'not-the-secret')}`);
    expect(badSignature.status).toBe(401);
    expect((await badSignature.json()).code).toBe('unauthenticated');
    const good = await post(`Bearer ${await sign({ video: { roomRecord: true } }, fake.apiSecret)}`);
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({});
  });
});

const LIVESTREAM_BY_ID = `query($id: ID!) { livestream(id: $id) { status vendorStatus playbackUrl failureReason externalId } }`;
const RECORDING_BY_ID = `query($id: ID!) {
  recording(id: $id) { status vendorStatus failureReason externalId assets { type path size durationSeconds } }
}`;
const LIVESTREAMS_IN_ROOM = `query($roomId: String!) {
  livestreams(provider: LIVEKIT, roomId: $roomId) { edges { node { id status failureReason } } }
  activeLivestreams(provider: LIVEKIT, roomId: $roomId) { id }
}`;
const RECORDINGS_IN_ROOM = `query($roomId: String!) {
  recordings(provider: LIVEKIT, roomId: $roomId) { edges { node { id status failureReason } } }
  activeRecordings(provider: LIVEKIT, roomId: $roomId) { id }
}`;

describe('LiveKit through the service', () => {
  let fake: LivekitFake;
  let server: TestServer;

  beforeAll(async () => {
    fake = await LivekitFake.start();
    server = await startServer({
      LIVEKIT_URL: fake.url,
      LIVEKIT_API_KEY: fake.apiKey,
      LIVEKIT_API_SECRET: fake.apiSecret,
      POLL_INTERVAL_MS: '50',
      VENDOR_TIMEOUT_MS: '300',
      VENDOR_MAX_RETRIES: '2',
    });
  });
  afterAll(async () => {
    await server?.cleanup();
    await fake?.close();
  });
  afterEach(() => fake.clearFaults());

  const startsIn = (room: string) => fake.calls(START).filter((call) => call.body.room_name === room);

  it('lists LiveKit as configured with its capabilities', async () => {
    const result = await gql(server.url, '{ providers { provider configured livestreams recordings webhooks } }');
    expect(result.data!.providers).toContainEqual({
      provider: 'LIVEKIT',
      configured: true,
      livestreams: true,
      recordings: true,
      webhooks: true,
    });
  });

  it('runs a livestream from start to stopped, learning each step by polling', async () => {
    const started = await gql(server.url, START_LIVESTREAM, {
      input: { provider: 'LIVEKIT', roomId: 'ls-life', meetingUrl: 'https://layouts.example.com/grid' },
    });
    expect(started.data!.startLivestream.__typename).toBe('StartLivestreamSuccess');
    const livestream = started.data!.startLivestream.livestream;
    expect(livestream).toMatchObject({ provider: 'LIVEKIT', status: 'STARTING', vendorStatus: 'EGRESS_STARTING' });
    const egressId = livestream.externalId;
    expect(egressId).toBe(fake.egressesInRoom('ls-life')[0]!.egressId);

    const client = wsClient(server.wsUrl);
    const changes = collect(client, 'subscription($id: ID!) { livestreamChanged(id: $id) { status version } }', {
      id: livestream.id,
    });
    await changes.waitFor(1);

    fake.setStatus(egressId, 'EGRESS_ACTIVE');
    const live = await waitFor(async () => {
      const result = await gql(server.url, LIVESTREAM_BY_ID, { id: livestream.id });
      return result.data?.livestream.status === 'LIVE' ? result.data.livestream : null;
    });
    expect(live.playbackUrl).toBe(`https://storage.livekit.test/livestreams/${livestream.id}/index.m3u8`);

    const stopped = await gql(server.url, STOP_LIVESTREAM, { id: livestream.id });
    expect(stopped.data!.stopLivestream.livestream).toMatchObject({
      status: 'STOPPING',
      vendorStatus: 'EGRESS_ENDING',
    });
    fake.setStatus(egressId, 'EGRESS_COMPLETE');
    await changes.completed;
    const statuses = changes.events.map((event) => event.livestreamChanged.status);
    expect(statuses.filter((status, i) => status !== statuses[i - 1])).toEqual([
      'STARTING',
      'LIVE',
      'STOPPING',
      'STOPPED',
    ]);
    const final = await gql(server.url, LIVESTREAM_BY_ID, { id: livestream.id });
    expect(final.data!.livestream).toMatchObject({ status: 'STOPPED', vendorStatus: 'EGRESS_COMPLETE' });
    await client.dispose();
  });

  it('runs a recording from start to completed with its file as asset', async () => {
    const started = await gql(server.url, START_RECORDING, {
      input: { provider: 'LIVEKIT', roomId: 'rec-life', resolution: { width: 1280, height: 720 } },
    });
    const recording = started.data!.startRecording.recording;
    expect(recording.status).toBe('STARTING');
    fake.setStatus(recording.externalId, 'EGRESS_ACTIVE');
    await waitFor(
      async () => (await gql(server.url, RECORDING_BY_ID, { id: recording.id })).data?.recording.status === 'RECORDING',
    );
    const stopped = await gql(server.url, STOP_RECORDING, { id: recording.id });
    expect(stopped.data!.stopRecording.recording.status).toBe('UPLOADING');
    fake.setStatus(recording.externalId, 'EGRESS_COMPLETE');
    const completed = await waitFor(async () => {
      const result = await gql(server.url, RECORDING_BY_ID, { id: recording.id });
      return result.data?.recording.status === 'COMPLETED' ? result.data.recording : null;
    });
    expect(completed.assets).toEqual([
      {
        type: 'file',
        path: `https://storage.livekit.test/recordings/${recording.id}.mp4`,
        size: 1048576,
        durationSeconds: 12.5,
      },
    ]);
  });

  it('marks a recording FAILED with LiveKit’s error when the egress fails', async () => {
    const started = await gql(server.url, START_RECORDING, { input: { provider: 'LIVEKIT', roomId: 'rec-fail' } });
    const recording = started.data!.startRecording.recording;
    fake.setStatus(recording.externalId, 'EGRESS_FAILED', { error: 'Start signal not received' });
    const failed = await waitFor(async () => {
      const result = await gql(server.url, RECORDING_BY_ID, { id: recording.id });
      return result.data?.recording.status === 'FAILED' ? result.data.recording : null;
    });
    expect(failed).toMatchObject({ vendorStatus: 'EGRESS_FAILED', failureReason: 'Start signal not received' });
  });

  it.each([
    { mode: '500', arm: () => fake.failNext(1, { rpc: START }), code: 'PROVIDER_UNAVAILABLE', reads: true },
    {
      // More refusals than attempts (VENDOR_MAX_RETRIES=2: three in all).
      mode: '429 every time',
      arm: () => fake.rateLimitNext(10, { rpc: START, retryAfterSeconds: 0 }),
      code: 'RATE_LIMITED',
      reads: false,
    },
    { mode: 'hang', arm: () => fake.hangNext(1, { rpc: START }), code: 'PROVIDER_UNAVAILABLE', reads: true },
    { mode: 'malformed', arm: () => fake.malformedNext(1, { rpc: START }), code: 'PROVIDER_UNAVAILABLE', reads: true },
  ] as const)(
    'a start answered $mode ends $code with the row FAILED and the room free',
    async ({ mode, arm, code, reads }) => {
      const room = `fail-${mode.replaceAll(' ', '-')}`;
      arm();
      const listsBefore = fake.calls('ListEgress').length;
      const result = await gql(server.url, START_LIVESTREAM, { input: { provider: 'LIVEKIT', roomId: room } });
      expect(result.data!.startLivestream).toMatchObject({ __typename: 'ProviderError', code, provider: 'LIVEKIT' });
      // Only a 429 (LiveKit did nothing) lets the client send a start again, up to its retries.
      const attempts = code === 'RATE_LIMITED' ? 3 : 1;
      expect(startsIn(room)).toHaveLength(attempts);
      expect(fake.egressesInRoom(room)).toHaveLength(0);
      // Only an answer that leaves it unclear whether LiveKit acted makes us look for the egress.
      const lookups = fake
        .calls('ListEgress')
        .slice(listsBefore)
        .filter((call) => call.body.room_name === room);
      expect(lookups.length > 0).toBe(reads);

      const rows = await gql(server.url, LIVESTREAMS_IN_ROOM, { roomId: room });
      expect(rows.data!.activeLivestreams).toEqual([]);
      const [row] = rows.data!.livestreams.edges.map((edge: any) => edge.node);
      expect(row.status).toBe('FAILED');
      expect(row.failureReason).toMatch(new RegExp(`^${code}: `));

      fake.clearFaults();
      const again = await gql(server.url, START_LIVESTREAM, { input: { provider: 'LIVEKIT', roomId: room } });
      expect(again.data!.startLivestream.__typename).toBe('StartLivestreamSuccess');
      expect(startsIn(room)).toHaveLength(attempts + 1);
      expect(fake.egressesInRoom(room)).toHaveLength(1);
    },
  );

  it('a start answered 429 once is sent again after Retry-After and makes one egress', async () => {
    // A 429 means LiveKit did nothing, so sending the start again can not make a second egress.
    const room = 'rate-limited-once';
    fake.rateLimitNext(1, { rpc: START, retryAfterSeconds: 1 });
    const listsBefore = fake.calls('ListEgress').length;
    const before = Date.now();
    const result = await gql(server.url, START_LIVESTREAM, { input: { provider: 'LIVEKIT', roomId: room } });
    expect(Date.now() - before).toBeGreaterThanOrEqual(900);
    expect(result.data!.startLivestream.__typename).toBe('StartLivestreamSuccess');
    expect(startsIn(room)).toHaveLength(2);
    const egresses = fake.egressesInRoom(room);
    expect(egresses).toHaveLength(1);
    const livestream = result.data!.startLivestream.livestream;
    expect(livestream).toMatchObject({ status: 'STARTING', externalId: egresses[0]!.egressId });
    // Not an unclear answer: no lookup of the room's egresses.
    const lookups = fake
      .calls('ListEgress')
      .slice(listsBefore)
      .filter((call) => call.body.room_name === room);
    expect(lookups).toEqual([]);

    const rows = await gql(server.url, LIVESTREAMS_IN_ROOM, { roomId: room });
    expect(rows.data!.livestreams.edges).toHaveLength(1);
    expect(rows.data!.activeLivestreams).toEqual([{ id: livestream.id }]);
  });

  it.each([
    ['livestream', 'error'],
    ['livestream', 'hang'],
    ['livestream', 'malformed'],
    ['recording', 'error'],
    ['recording', 'hang'],
    ['recording', 'malformed'],
  ] as const)(
    'a %s start that LiveKit carried out before answering %s is adopted, not sent twice',
    async (kind, mode) => {
      const room = `adopt-${kind}-${mode}`;
      fake.fault({ kind: mode, rpc: START, afterActing: true });
      const result =
        kind === 'livestream'
          ? (await gql(server.url, START_LIVESTREAM, { input: { provider: 'LIVEKIT', roomId: room } })).data!
              .startLivestream
          : (await gql(server.url, START_RECORDING, { input: { provider: 'LIVEKIT', roomId: room } })).data!
              .startRecording;
      expect(result.__typename).toBe(kind === 'livestream' ? 'StartLivestreamSuccess' : 'StartRecordingSuccess');
      const stream = result.livestream ?? result.recording;
      expect(startsIn(room)).toHaveLength(1);
      expect(stream.externalId).toBe(fake.egressesInRoom(room)[0]!.egressId);
      expect(stream.status).toBe('STARTING');
      const rows = await gql(server.url, kind === 'livestream' ? LIVESTREAMS_IN_ROOM : RECORDINGS_IN_ROOM, {
        roomId: room,
      });
      const active = kind === 'livestream' ? rows.data!.activeLivestreams : rows.data!.activeRecordings;
      expect(active).toEqual([{ id: stream.id }]);
    },
  );

  it('a wrong credential is PROVIDER_REJECTED with LiveKit’s message and no secret in sight', async () => {
    const wrongSecret = 'wrong-secret-do-not-show-42';
    const other = await startServer({
      LIVEKIT_URL: fake.url,
      LIVEKIT_API_KEY: fake.apiKey,
      LIVEKIT_API_SECRET: wrongSecret,
      VENDOR_TIMEOUT_MS: '300',
      VENDOR_MAX_RETRIES: '2',
    });
    try {
      const result = await gql(other.url, START_RECORDING, { input: { provider: 'LIVEKIT', roomId: 'bad-cred' } });
      const error = result.data!.startRecording;
      expect(error).toMatchObject({ __typename: 'ProviderError', code: 'PROVIDER_REJECTED', provider: 'LIVEKIT' });
      expect(error.message).toContain('invalid token');
      const rows = await gql(other.url, RECORDINGS_IN_ROOM, { roomId: 'bad-cred' });
      const [row] = rows.data!.recordings.edges.map((edge: any) => edge.node);
      expect(row.status).toBe('FAILED');
      expect(rows.data!.activeRecordings).toEqual([]);
      for (const text of [error.message, row.failureReason]) {
        expect(text).not.toContain(wrongSecret);
        expect(text).not.toContain(fake.apiSecret);
        expect(text).not.toMatch(/eyJ/);
      }
    } finally {
      await other.cleanup();
    }
  });
});
