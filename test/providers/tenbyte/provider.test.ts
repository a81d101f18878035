import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config.js';
import { ProviderError } from '../../../src/domain/errors.js';
import { serializePayload } from '../../../src/lifecycle/index.js';
import type { Provider, StreamRef } from '../../../src/providers/provider.js';
import {
  mapSessionStatus,
  TENBYTE_SESSION_STATUS,
  vendorErrorMessage,
} from '../../../src/providers/tenbyte/contract.js';
import { createTenbyteProvider, END_REQUESTED } from '../../../src/providers/tenbyte/index.js';
import {
  FAKE_TENBYTE_HOST_TOKEN,
  FAKE_TENBYTE_VIEWER_TOKEN,
  startTenbyteFake,
  TENBYTE_ROUTES,
  type TenbyteFake,
} from '../../fakes/tenbyte.js';
import {
  collect,
  gql,
  START_LIVESTREAM,
  START_RECORDING,
  STOP_LIVESTREAM,
  startServer,
  storedText,
  type TestServer,
  waitFor,
  wsClient,
} from '../../helpers.js';

let fake: TenbyteFake;

beforeAll(async () => {
  fake = await startTenbyteFake();
});
afterAll(async () => {
  await fake.close();
});
afterEach(() => {
  fake.reset();
});

function tenbyteEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    TENBYTE_API_TOKEN: FAKE_TENBYTE_HOST_TOKEN,
    TENBYTE_API_URL: fake.apiUrl,
    VENDOR_TIMEOUT_MS: '300',
    VENDOR_MAX_RETRIES: '2',
    ...overrides,
  };
}

function provider(overrides: Record<string, string> = {}): Provider {
  const created = createTenbyteProvider(loadConfig(tenbyteEnv(overrides)));
  if (!created) throw new Error('Tenbyte provider not configured');
  return created;
}

const ref = (sessionId: string): StreamRef => ({ id: 'ours', roomId: sessionId, externalId: sessionId, sessionId });

async function rejection(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe('Tenbyte status mapping', () => {
  it('maps every documented and assumed session status', () => {
    expect(TENBYTE_SESSION_STATUS).toEqual({
      scheduled: 'STARTING',
      live: 'LIVE',
      ended: 'STOPPED',
      completed: 'STOPPED',
      stopped: 'STOPPED',
      failed: 'FAILED',
      error: 'FAILED',
    });
    for (const [vendorStatus, status] of Object.entries(TENBYTE_SESSION_STATUS)) {
      expect(mapSessionStatus(vendorStatus)).toBe(status);
    }
    expect(mapSessionStatus(' LIVE ')).toBe('LIVE');
  });

  it('knows nothing of statuses it has never seen', () => {
    expect(mapSessionStatus('paused')).toBeNull();
    expect(mapSessionStatus('')).toBeNull();
  });
});

describe('Tenbyte error envelopes', () => {
  it('reads the vendor message from either envelope', () => {
    expect(vendorErrorMessage({ success: false, error: { code: 'FORBIDDEN', message: 'Host only' } })).toBe(
      'Host only',
    );
    expect(vendorErrorMessage({ success: false, errors: [{ code: 'A', message: 'one' }, 'two'] })).toBe('one; two');
    expect(vendorErrorMessage({ success: false, errors: [{ code: 'ONLY_CODE' }] })).toBe('ONLY_CODE');
    expect(vendorErrorMessage({ success: false, error: 'plain' })).toBe('plain');
    expect(vendorErrorMessage({ message: 'bare' })).toBe('bare');
    expect(vendorErrorMessage({ success: false })).toBeUndefined();
    expect(vendorErrorMessage('text')).toBeUndefined();
  });
});

describe('Tenbyte provider over HTTP', () => {
  it('is not configured without a token and says what it supports', () => {
    expect(createTenbyteProvider(loadConfig({}))).toBeNull();
    expect(provider().capabilities).toEqual({ livestreams: true, recordings: false, webhooks: false });
  });

  it('starts with go_live on the session: exact request and mapped answer, no livekit_token kept', async () => {
    const session = fake.createSession('room-a');
    const observation = await provider().startLivestream({ streamId: 'ours', roomId: session.id });

    expect(fake.requests).toHaveLength(1);
    const [request] = fake.requests;
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe(`/v1/webinar/sessions/${session.id}/go_live`);
    expect(request?.headers.authorization).toBe(`Bearer ${FAKE_TENBYTE_HOST_TOKEN}`);
    expect(request?.body).toBeUndefined();

    const { raw, ...mapped } = observation;
    expect(mapped).toEqual({
      status: 'STARTING',
      vendorStatus: 'scheduled',
      externalId: session.id,
      sessionId: session.id,
      playbackUrl: session.hls_url,
      ingest: {
        rtmpUrl: 'rtmp://ingest.tenbyte.test/live',
        streamKey: `sk_live_${session.id.slice(0, 8)}`,
        whipUrl: expect.stringMatching(/^https:\/\/whip\.tenbyte\.test\/w\//),
      },
    });
    expect(JSON.stringify(mapped)).not.toMatch(/lk_secret_|livekit/);
    // The answer as sent is kept for history, which stores it with its token and stream keys redacted.
    expect(raw).toMatchObject({ success: true, data: { session: { id: session.id, status: 'scheduled' } } });
    const stored = serializePayload(raw) ?? '';
    expect(stored).toContain('"livekit_token":"[redacted]"');
    expect(stored).not.toMatch(/lk_secret_|sk_live_/);
  });

  it('reads the session on the status path and maps it; an unknown session is null', async () => {
    const session = fake.createSession();
    fake.setStatus(session.id, 'live');
    const observation = await provider().fetchLivestream(ref(session.id));
    expect(fake.requests.at(-1)).toMatchObject({
      method: 'GET',
      path: `/v1/webinar/sessions/${session.id}`,
      headers: { authorization: `Bearer ${FAKE_TENBYTE_HOST_TOKEN}` },
    });
    expect(observation).toMatchObject({ status: 'LIVE', vendorStatus: 'live', externalId: session.id });

    fake.setStatus(session.id, 'failed');
    expect(await provider().fetchLivestream(ref(session.id))).toMatchObject({
      status: 'FAILED',
      failureReason: 'Tenbyte reported the session as failed',
    });
    expect(await provider().fetchLivestream(ref('no-such-session'))).toBeNull();
  });

  it('keeps a status it does not know out of the stream: the read fails instead of guessing', async () => {
    const session = fake.createSession();
    fake.setStatus(session.id, 'intermission');
    const error = await rejection(provider().fetchLivestream(ref(session.id)));
    expect(error.message).toContain('unknown session status "intermission"');
  });

  it('ends the session on the stop path', async () => {
    const session = fake.createSession();
    fake.setStatus(session.id, 'live');
    const observation = await provider().stopLivestream(ref(session.id));
    expect(fake.requests.at(-1)).toMatchObject({
      method: 'POST',
      path: `/v1/webinar/sessions/${session.id}/end`,
      headers: { authorization: `Bearer ${FAKE_TENBYTE_HOST_TOKEN}` },
    });
    expect(observation).toMatchObject({ status: 'STOPPED', vendorStatus: 'ended', externalId: session.id });

    // Ending again: Tenbyte refuses (409), the session says it has ended, so that is the answer.
    expect(await provider().stopLivestream(ref(session.id))).toMatchObject({ status: 'STOPPED' });
  });

  it('tolerates an end answer that names no session: STOPPING until a poll tells', async () => {
    const session = fake.createSession();
    fake.noSessionNext(1, { match: TENBYTE_ROUTES.end, afterApply: true });
    expect(await provider().stopLivestream(ref(session.id))).toEqual({
      status: 'STOPPING',
      vendorStatus: END_REQUESTED,
      raw: { success: true, data: { message: 'ok' }, timestamp: expect.any(Number) },
    });
    expect(await provider().fetchLivestream(ref(session.id))).toMatchObject({
      status: 'STOPPED',
      vendorStatus: 'ended',
    });
  });

  it('uses the configured status and stop paths (assumed, so configurable)', async () => {
    const custom = provider({
      TENBYTE_STATUS_PATH: '/v2/sessions/{id}/state',
      TENBYTE_STOP_PATH: '/v2/sessions/{id}/stop',
    });
    expect(await custom.fetchLivestream(ref('s-1'))).toBeNull();
    expect(fake.requests.at(-1)).toMatchObject({ method: 'GET', path: '/v1/webinar/v2/sessions/s-1/state' });
    await rejection(custom.stopLivestream(ref('s-1')));
    expect(fake.requests.at(-1)).toMatchObject({ method: 'POST', path: '/v1/webinar/v2/sessions/s-1/stop' });
  });

  it('refuses recordings with a typed error', async () => {
    const error = await rejection(provider().startRecording({ recordingId: 'r', roomId: 'x' }));
    expect(error.code).toBe('PROVIDER_REJECTED');
    expect(error.message).toBe('Tenbyte does not support recordings');
    expect((await rejection(provider().stopRecording(ref('x')))).code).toBe('PROVIDER_REJECTED');
    expect((await rejection(provider().fetchRecording(ref('x')))).code).toBe('PROVIDER_REJECTED');
    expect(fake.requests).toHaveLength(0);
  });

  it('surfaces the 403 of a non-host token on go_live, in either envelope', async () => {
    const session = fake.createSession();
    const viewer = provider({ TENBYTE_API_TOKEN: FAKE_TENBYTE_VIEWER_TOKEN });
    for (const style of ['error', 'errors'] as const) {
      fake.errorStyle = style;
      const error = await rejection(viewer.startLivestream({ streamId: 'ours', roomId: session.id }));
      expect(error.code).toBe('PROVIDER_REJECTED');
      expect(error.vendorStatusCode).toBe(403);
      expect(error.message).toContain('Only the host can perform this action');
      expect(error.message).not.toContain(FAKE_TENBYTE_VIEWER_TOKEN);
    }
    // One go_live per attempt: a refusal is neither retried nor followed by a read.
    expect(fake.goLiveCalls(session.id)).toBe(2);
    expect(fake.requests.map((r) => r.method)).toEqual(['POST', 'POST']);
  });

  it('treats a 2xx with success: false as a refusal with the vendor message', async () => {
    const session = fake.createSession();
    fake.refuseNext(1, 'Session is not ready', { match: TENBYTE_ROUTES.goLive });
    const error = await rejection(provider().startLivestream({ streamId: 'ours', roomId: session.id }));
    expect(error.code).toBe('PROVIDER_REJECTED');
    expect(error.message).toContain('Session is not ready');
    // A clear refusal is not ambiguous: no read of the session follows.
    expect(fake.requests.map((r) => r.method)).toEqual(['POST']);

    // Should Tenbyte ever echo our token in a message, it is cut out.
    fake.refuseNext(1, `bad token ${FAKE_TENBYTE_HOST_TOKEN}`, { match: TENBYTE_ROUTES.goLive });
    const echoed = await rejection(provider().startLivestream({ streamId: 'ours', roomId: session.id }));
    expect(echoed.message).toContain('bad token [redacted]');
    expect(echoed.message).not.toContain(FAKE_TENBYTE_HOST_TOKEN);
  });

  it('retries a status read after a 429, waiting what Retry-After says', async () => {
    const session = fake.createSession();
    fake.rateLimitNext(1, 1, { match: TENBYTE_ROUTES.read });
    const started = Date.now();
    expect(await provider().fetchLivestream(ref(session.id))).toMatchObject({ status: 'STARTING' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(fake.requests.filter((r) => r.method === 'GET')).toHaveLength(2);
  });
});

const WATCH = `subscription Watch($id: ID!) { livestreamChanged(id: $id) { id status vendorStatus version } }`;
const READ = `query($id: ID!) { livestream(id: $id) { status vendorStatus failureReason externalId
  history { status source applied } } }`;
const ACTIVE = `query($roomId: String) { activeLivestreams(provider: TENBYTE, roomId: $roomId) { id } }`;

/** Reads of one session the fake received (polls included). */
function reads(sessionId: string): number {
  return fake.requests.filter((r) => r.method === 'GET' && r.path === `/v1/webinar/sessions/${sessionId}`).length;
}

async function readLivestream(server: TestServer, id: string) {
  return (await gql(server.url, READ, { id })).data?.livestream;
}

describe('Tenbyte through the service', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer(tenbyteEnv({ POLL_INTERVAL_MS: '50' }));
  });
  afterAll(async () => {
    await server.cleanup();
  });

  /** A session created over the fake's documented HTTP route, as a Tenbyte customer would. */
  async function createSession(roomId: string): Promise<string> {
    const response = await fetch(`${fake.apiUrl}/rooms/${roomId}/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${FAKE_TENBYTE_HOST_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'Quarterly webinar', preset_id: 'preset-1' }),
    });
    const body = (await response.json()) as { data: { session: { id: string } } };
    fake.requests.length = 0;
    return body.data.session.id;
  }

  it('is listed as configured, livestreams only, without webhooks', async () => {
    const result = await gql(server.url, '{ providers { provider configured livestreams recordings webhooks } }');
    expect(result.data?.providers).toContainEqual({
      provider: 'TENBYTE',
      configured: true,
      livestreams: true,
      recordings: false,
      webhooks: false,
    });
  });

  it('lives a whole livestream: STARTING → LIVE by polling → stop → STOPPED', async () => {
    const sessionId = await createSession('room-life');
    const started = await gql(server.url, START_LIVESTREAM, { input: { provider: 'TENBYTE', roomId: sessionId } });
    expect(started.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    const livestream = started.data?.startLivestream.livestream;
    expect(livestream).toMatchObject({
      provider: 'TENBYTE',
      roomId: sessionId,
      externalId: sessionId,
      status: 'STARTING',
      vendorStatus: 'scheduled',
      playbackUrl: fake.sessions.get(sessionId)?.hls_url,
      ingest: {
        rtmpUrl: 'rtmp://ingest.tenbyte.test/live',
        streamKey: `sk_live_${sessionId.slice(0, 8)}`,
        whipUrl: expect.stringContaining('https://whip.tenbyte.test/'),
      },
    });

    const client = wsClient(server.wsUrl);
    const watch = collect(client, WATCH, { id: livestream.id });
    await watch.waitFor(1);
    fake.setStatus(sessionId, 'live');
    await waitFor(() => watch.events.some((e) => e.livestreamChanged.status === 'LIVE'));

    // A status Tenbyte has never shown us changes nothing: the stream stays LIVE.
    fake.setStatus(sessionId, 'intermission');
    const polls = reads(sessionId);
    await waitFor(() => reads(sessionId) >= polls + 3);
    expect(await readLivestream(server, livestream.id)).toMatchObject({ status: 'LIVE', vendorStatus: 'live' });
    fake.setStatus(sessionId, 'live');

    const stopped = await gql(server.url, STOP_LIVESTREAM, { id: livestream.id });
    expect(stopped.data?.stopLivestream.livestream).toMatchObject({ status: 'STOPPED', vendorStatus: 'ended' });
    expect(fake.requests.filter((r) => r.path.endsWith('/end'))).toHaveLength(1);
    await watch.completed;
    const statuses = watch.events.map((e) => e.livestreamChanged.status);
    expect(statuses.filter((s, i) => s !== statuses[i - 1])).toEqual(['STARTING', 'LIVE', 'STOPPED']);
    expect(watch.errors).toEqual([]);
    await client.dispose();

    const final = await readLivestream(server, livestream.id);
    expect(final.history.map((h: { source: string }) => h.source)).toContain('POLL');
    // The livekit_token go_live answered is kept nowhere: not in the row, not in history payloads.
    const stored = await storedText(server.dbPath);
    expect(stored).toContain(sessionId);
    expect(stored).not.toContain('lk_secret_');
  });

  it('learns by polling that the host ended the session on Tenbyte', async () => {
    const sessionId = await createSession('room-ended');
    const started = await gql(server.url, START_LIVESTREAM, { input: { provider: 'TENBYTE', roomId: sessionId } });
    const id = started.data?.startLivestream.livestream.id;
    fake.setStatus(sessionId, 'live');
    await waitFor(async () => (await readLivestream(server, id)).status === 'LIVE');
    fake.setStatus(sessionId, 'ended');
    await waitFor(async () => (await readLivestream(server, id)).status === 'STOPPED');
    expect((await gql(server.url, ACTIVE, { roomId: sessionId })).data?.activeLivestreams).toEqual([]);
  });

  it('answers a typed error, not a crash, for a recording on Tenbyte', async () => {
    const result = await gql(server.url, START_RECORDING, { input: { provider: 'TENBYTE', roomId: 'any' } });
    expect(result.errors).toBeUndefined();
    expect(result.data?.startRecording).toMatchObject({
      __typename: 'ValidationError',
      code: 'VALIDATION',
      field: 'provider',
    });
    expect(fake.requests).toHaveLength(0);
  });

  const failures = [
    {
      name: '500',
      arm: () => fake.failNext(1, { match: TENBYTE_ROUTES.goLive }),
      code: 'PROVIDER_UNAVAILABLE',
      goLives: 1,
      reads: 1,
    },
    {
      // More refusals than attempts (VENDOR_MAX_RETRIES=2: three go_live calls in all).
      name: '429 that persists past the retries',
      arm: () => fake.rateLimitNext(10, 0, { match: TENBYTE_ROUTES.goLive }),
      code: 'RATE_LIMITED',
      goLives: 3,
      reads: 0,
    },
    {
      name: 'hang (timeout)',
      arm: () => fake.hangNext(1, { match: TENBYTE_ROUTES.goLive }),
      code: 'PROVIDER_UNAVAILABLE',
      goLives: 1,
      reads: 1,
    },
    {
      name: 'malformed body',
      arm: () => fake.malformedNext(1, { match: TENBYTE_ROUTES.goLive }),
      code: 'PROVIDER_UNAVAILABLE',
      goLives: 1,
      reads: 1,
    },
  ];

  it.each(failures)('a go_live $name ends FAILED with nothing left active; the next start works', async (failure) => {
    const sessionId = await createSession(`room-${failure.name}`);
    failure.arm();
    const result = await gql(server.url, START_LIVESTREAM, { input: { provider: 'TENBYTE', roomId: sessionId } });
    expect(result.data?.startLivestream).toMatchObject({
      __typename: 'ProviderError',
      code: failure.code,
      provider: 'TENBYTE',
    });
    // A go_live is sent again only after a 429 (Tenbyte did nothing); an unclear failure reads the
    // session first (not live: not adopted).
    expect(fake.goLiveCalls(sessionId)).toBe(failure.goLives);
    expect(reads(sessionId)).toBe(failure.reads);

    const listed = await gql(
      server.url,
      `query($roomId: String) { livestreams(provider: TENBYTE, roomId: $roomId) {
      edges { node { id status failureReason } } } }`,
      { roomId: sessionId },
    );
    const [row] = listed.data?.livestreams.edges.map((e: { node: unknown }) => e.node) ?? [];
    expect(row).toMatchObject({ status: 'FAILED', failureReason: expect.stringContaining(failure.code) });
    expect((await gql(server.url, ACTIVE, { roomId: sessionId })).data?.activeLivestreams).toEqual([]);

    fake.clearFaults();
    const again = await gql(server.url, START_LIVESTREAM, { input: { provider: 'TENBYTE', roomId: sessionId } });
    expect(again.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    expect(fake.goLiveCalls(sessionId)).toBe(failure.goLives + 1);
    await gql(server.url, STOP_LIVESTREAM, { id: again.data?.startLivestream.livestream.id });
  });

  it('sends go_live again after a 429 once Retry-After has passed, and ends with one live stream', async () => {
    // A 429 means Tenbyte did nothing, so a second go_live can not start a second stream.
    const sessionId = await createSession('room-429-once');
    fake.rateLimitNext(1, 1, { match: TENBYTE_ROUTES.goLive });
    const before = Date.now();
    const result = await gql(server.url, START_LIVESTREAM, { input: { provider: 'TENBYTE', roomId: sessionId } });
    expect(Date.now() - before).toBeGreaterThanOrEqual(900);
    expect(result.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    const livestream = result.data?.startLivestream.livestream;
    expect(livestream).toMatchObject({ status: 'STARTING', externalId: sessionId });
    expect(fake.goLiveCalls(sessionId)).toBe(2);
    expect(fake.goLiveCalls()).toBe(2);
    // Not an unclear answer: no read of the session came between the two go_live calls.
    const first = fake.requests
      .filter((r) => r.path.startsWith(`/v1/webinar/sessions/${sessionId}`))
      .slice(0, 2)
      .map((r) => `${r.method} ${r.path}`);
    expect(first).toEqual(Array(2).fill(`POST /v1/webinar/sessions/${sessionId}/go_live`));

    const listed = await gql(
      server.url,
      `query($roomId: String) { livestreams(provider: TENBYTE, roomId: $roomId) { edges { node { id status } } } }`,
      { roomId: sessionId },
    );
    expect(listed.data?.livestreams.edges).toHaveLength(1);
    expect((await gql(server.url, ACTIVE, { roomId: sessionId })).data?.activeLivestreams).toEqual([
      { id: livestream.id },
    ]);
    await gql(server.url, STOP_LIVESTREAM, { id: livestream.id });
  });

  it.each([
    { name: 'timed out', arm: () => fake.hangNext(1, { match: TENBYTE_ROUTES.goLive, afterApply: true }) },
    { name: 'answered 500', arm: () => fake.failNext(1, { match: TENBYTE_ROUTES.goLive, afterApply: true }) },
  ])('adopts a session that went live although go_live $name (one go_live only)', async ({ arm }) => {
    const sessionId = await createSession('room-adopt');
    fake.goLiveStatus = 'live';
    arm();
    const result = await gql(server.url, START_LIVESTREAM, { input: { provider: 'TENBYTE', roomId: sessionId } });
    expect(result.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    expect(result.data?.startLivestream.livestream).toMatchObject({
      status: 'LIVE',
      vendorStatus: 'live',
      externalId: sessionId,
      playbackUrl: fake.sessions.get(sessionId)?.hls_url,
    });
    expect(fake.goLiveCalls(sessionId)).toBe(1);
    expect(reads(sessionId)).toBe(1);
    const stopped = await gql(server.url, STOP_LIVESTREAM, { id: result.data?.startLivestream.livestream.id });
    expect(stopped.data?.stopLivestream.livestream.status).toBe('STOPPED');
  });

  it('keeps the stream when a stop fails (after retries); a later stop works', async () => {
    const sessionId = await createSession('room-stop-fails');
    const started = await gql(server.url, START_LIVESTREAM, { input: { provider: 'TENBYTE', roomId: sessionId } });
    const id = started.data?.startLivestream.livestream.id;
    fake.failNext(3, { match: TENBYTE_ROUTES.end });
    const stopped = await gql(server.url, STOP_LIVESTREAM, { id });
    expect(stopped.data?.stopLivestream).toMatchObject({ __typename: 'ProviderError', code: 'PROVIDER_UNAVAILABLE' });
    expect(fake.requests.filter((r) => r.path.endsWith('/end'))).toHaveLength(3);
    expect((await readLivestream(server, id)).status).toBe('STARTING');
    const retried = await gql(server.url, STOP_LIVESTREAM, { id });
    expect(retried.data?.stopLivestream.livestream.status).toBe('STOPPED');
  });
});

describe('Tenbyte with a wrong credential', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startServer(tenbyteEnv({ TENBYTE_API_TOKEN: 'tb_wrong_token_0000' }));
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('answers PROVIDER_REJECTED with the vendor message, never the token', async () => {
    const session = fake.createSession();
    const result = await gql(server.url, START_LIVESTREAM, { input: { provider: 'TENBYTE', roomId: session.id } });
    const error = result.data?.startLivestream;
    expect(error).toMatchObject({ __typename: 'ProviderError', code: 'PROVIDER_REJECTED', provider: 'TENBYTE' });
    expect(error.message).toContain('HTTP 401');
    expect(error.message).toContain('Invalid or missing authentication token');
    expect(error.message).not.toContain('tb_wrong_token_0000');
    expect(fake.requests.at(-1)?.headers.authorization).toBe('Bearer tb_wrong_token_0000');

    const listed = await gql(
      server.url,
      `{ livestreams(provider: TENBYTE) { edges { node { status failureReason } } } }`,
    );
    const [row] = listed.data?.livestreams.edges.map((e: { node: unknown }) => e.node) ?? [];
    expect(row.status).toBe('FAILED');
    expect(row.failureReason).toContain('PROVIDER_REJECTED');
    expect(row.failureReason).not.toContain('tb_wrong_token_0000');
  });
});
