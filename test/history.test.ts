import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializePayload } from '../src/lifecycle/index.js';
import { type CloudflareFake, startCloudflareFake } from './fakes/cloudflare.js';
import { FakeHms } from './fakes/hms.js';
import { LivekitFake } from './fakes/livekit.js';
import { FAKE_TENBYTE_HOST_TOKEN, startTenbyteFake, type TenbyteFake } from './fakes/tenbyte.js';
import { gql, START_LIVESTREAM, startServer, storedRows, type TestServer, waitFor } from './helpers.js';

/**
 * Issue 4 item 5: history keeps the vendor's own answer of every start and of every poll that
 * changed something (webhook deliveries keep their body, see test/webhooks), with credentials
 * redacted. Real HTTP against the vendor fakes, read back from the real SQLite file.
 */

const HMS_KEY = 'hms-access-key-history';
const HMS_SECRET = 'hms-app-secret-history-0123456789';
const RTMP_DESTINATION = 'rtmp://live.example.com/app/sk_live_HISTORY_SECRET_42';

let hms: FakeHms;
let cf: CloudflareFake;
let lk: LivekitFake;
let tb: TenbyteFake;
let server: TestServer;

beforeAll(async () => {
  [hms, cf, lk, tb] = await Promise.all([
    FakeHms.start({ accessKey: HMS_KEY, appSecret: HMS_SECRET }),
    startCloudflareFake(),
    LivekitFake.start(),
    startTenbyteFake(),
  ]);
  server = await startServer({
    HMS_ACCESS_KEY: HMS_KEY,
    HMS_APP_SECRET: HMS_SECRET,
    HMS_API_URL: hms.url,
    ...cf.env,
    LIVEKIT_URL: lk.url,
    LIVEKIT_API_KEY: lk.apiKey,
    LIVEKIT_API_SECRET: lk.apiSecret,
    TENBYTE_API_TOKEN: FAKE_TENBYTE_HOST_TOKEN,
    TENBYTE_API_URL: tb.apiUrl,
    POLL_INTERVAL_MS: '50',
    POLL_MAX_INTERVAL_MS: '200',
    VENDOR_TIMEOUT_MS: '1000',
    VENDOR_MAX_RETRIES: '1',
  });
});
afterAll(async () => {
  await server?.cleanup();
  await Promise.all([hms?.close(), cf?.close(), lk?.close(), tb?.close()]);
});

interface Row {
  source: string;
  status: string;
  version: number;
  applied: number;
  payload: string | null;
}

/** The stream's history as stored, oldest first. */
function rows(streamId: string): Promise<Row[]> {
  return storedRows<Row>(
    server.dbPath,
    'SELECT source, status, version, applied, payload FROM status_events WHERE stream_id = ? ORDER BY id',
    [streamId],
  );
}

/** The payload (raw text and parsed) of the stream's first stored event from `source` with `status`. */
async function stored(streamId: string, source: string, status: string): Promise<{ text: string; json: any }> {
  const all = await rows(streamId);
  const row = all.find((r) => r.source === source && r.status === status && r.payload);
  if (!row?.payload) throw new Error(`no ${source} ${status} payload: ${JSON.stringify(all)}`);
  return { text: row.payload, json: JSON.parse(row.payload) };
}

async function start(input: Record<string, unknown>) {
  const result = await gql(server.url, START_LIVESTREAM, { input });
  const livestream = result.data?.startLivestream.livestream;
  if (!livestream) throw new Error(`start failed: ${JSON.stringify(result)}`);
  return livestream as { id: string; externalId: string; status: string; version: number };
}

const READ = `query($id: ID!) { livestream(id: $id) { status version history { status applied version source } } }`;

async function untilLive(id: string) {
  return waitFor(async () => {
    const read = (await gql(server.url, READ, { id })).data?.livestream;
    return read?.status === 'LIVE' && read;
  });
}

/** Our mapped observation is not what history keeps. */
function expectVendorShape(json: Record<string, unknown>) {
  expect(json).not.toHaveProperty('vendorStatus');
  expect(json).not.toHaveProperty('externalId');
}

describe("history keeps the vendor's own answers", () => {
  it('100ms: the job of the start answer and of the poll that saw it running', async () => {
    const livestream = await start({ provider: 'HMS', roomId: 'history-hms' });
    hms.setStatus(livestream.externalId, 'running');
    await untilLive(livestream.id);

    const api = (await stored(livestream.id, 'API', 'STARTING')).json;
    expect(api).toMatchObject({ id: livestream.externalId, room_id: 'history-hms', status: 'starting' });
    expectVendorShape(api);
    const poll = (await stored(livestream.id, 'POLL', 'LIVE')).json;
    expect(poll).toMatchObject({ id: livestream.externalId, room_id: 'history-hms', status: 'running' });
    expect(poll.session_id).toBeTruthy();
    expectVendorShape(poll);
  });

  it('Cloudflare RealtimeKit: the `data` of the start and read answers, stream key redacted', async () => {
    const livestream = await start({ provider: 'CLOUDFLARE', roomId: 'history-cf' });
    const streamKey = cf.livestreams.get(livestream.externalId)?.stream_key as string;
    expect(streamKey).toMatch(/^sk_/);
    cf.setLivestreamStatus(livestream.externalId, 'LIVE');
    await untilLive(livestream.id);

    const api = await stored(livestream.id, 'API', 'STARTING');
    expect(api.json).toMatchObject({ id: livestream.externalId, status: 'INVOKED', stream_key: '[redacted]' });
    expect(api.json.ingest_server).toBe('rtmps://live.fake.invalid:443/live/');
    expectVendorShape(api.json);
    const poll = await stored(livestream.id, 'POLL', 'LIVE');
    // GET /livestreams/{id} answers `data: {livestream, session, paging}`: kept whole.
    expect(poll.json).toMatchObject({
      livestream: { id: livestream.externalId, status: 'LIVE', meeting_id: 'history-cf', stream_key: '[redacted]' },
      paging: { total_count: 0 },
    });
    for (const { text } of [api, poll]) expect(text).not.toContain(streamKey);
  });

  it('LiveKit: the EgressInfo of the start and poll answers, RTMP stream key redacted', async () => {
    const livestream = await start({ provider: 'LIVEKIT', roomId: 'history-lk', destination: RTMP_DESTINATION });
    lk.setStatus(livestream.externalId, 'EGRESS_ACTIVE');
    const live = await untilLive(livestream.id);

    const api = await stored(livestream.id, 'API', 'STARTING');
    expect(api.json).toMatchObject({ egress_id: livestream.externalId, room_name: 'history-lk' });
    expect(api.json.room_composite.stream_outputs[0].urls).toEqual(['rtmp://live.example.com/app/[redacted]']);
    expectVendorShape(api.json);
    const poll = await stored(livestream.id, 'POLL', 'LIVE');
    expect(poll.json).toMatchObject({ egress_id: livestream.externalId, status: 'EGRESS_ACTIVE' });
    expect(poll.json.room_id).toMatch(/^RM_/);
    expect(poll.json.stream_results[0].url).toBe('rtmp://live.example.com/app/[redacted]');
    for (const { text } of [api, poll]) expect(text).not.toContain('HISTORY_SECRET');

    // A late egress_started (STARTING after LIVE) is refused: kept in history, nothing changes.
    const late = lk.egressWebhook('egress_started', livestream.externalId);
    late.egressInfo = { ...(late.egressInfo as object), status: 'EGRESS_STARTING' };
    const answered = await lk.sendWebhook(`http://127.0.0.1:${server.port}/webhooks/livekit`, late);
    expect(answered.status).toBe(200);
    const after = (await gql(server.url, READ, { id: livestream.id })).data?.livestream;
    expect(after).toMatchObject({ status: 'LIVE', version: live.version });
    expect(after.history.at(-1)).toEqual({
      status: 'STARTING',
      applied: false,
      version: live.version,
      source: 'WEBHOOK',
    });
    const refused = (await rows(livestream.id)).at(-1);
    expect(refused).toMatchObject({ source: 'WEBHOOK', status: 'STARTING', applied: 0 });
    expect(JSON.parse(refused?.payload ?? 'null')).toMatchObject({ event: 'egress_started' });
  });

  it('Tenbyte: the whole go_live and session answers, token and stream keys redacted', async () => {
    const session = tb.createSession('history-tb');
    const livestream = await start({ provider: 'TENBYTE', roomId: session.id });
    tb.setStatus(session.id, 'live');
    await untilLive(livestream.id);

    const api = await stored(livestream.id, 'API', 'STARTING');
    expect(api.json).toMatchObject({
      success: true,
      data: {
        session: { id: session.id, status: 'scheduled', room_id: 'history-tb' },
        livekit_token: '[redacted]',
        rtmp: { url: 'rtmp://ingest.tenbyte.test/live', stream_key: '[redacted]' },
        rtmp_setup: { stream_key: '[redacted]' },
      },
    });
    expect(api.text).not.toMatch(/lk_secret_|sk_live_/);
    const poll = await stored(livestream.id, 'POLL', 'LIVE');
    expect(poll.json).toMatchObject({ data: { session: { id: session.id, status: 'live' } } });
  });
});

describe('history payload redaction', () => {
  it('redacts credentials under any spelling of their key, and stream keys inside push URLs', () => {
    const stored = JSON.parse(
      serializePayload({
        stream_key: 'a',
        streamKey: 'b',
        ingest_stream_key: 'c',
        livekit_token: 'd',
        livekitToken: 'e',
        access_token: 'f',
        api_key: 'g',
        client_secret: 'h',
        nested: [{ urls: ['rtmp://host/app/KEY1', 'rtmp://host/app', 'srt://host:9000?streamid=KEY2'] }],
        ingest_server: 'rtmps://live.fake.invalid:443/live/',
        playback_url: 'https://cdn.invalid/live/index.m3u8',
        token_count: 3,
        status: 'running',
      }) ?? 'null',
    );
    expect(stored).toEqual({
      stream_key: '[redacted]',
      streamKey: '[redacted]',
      ingest_stream_key: '[redacted]',
      livekit_token: '[redacted]',
      livekitToken: '[redacted]',
      access_token: '[redacted]',
      api_key: '[redacted]',
      client_secret: '[redacted]',
      nested: [{ urls: ['rtmp://host/app/[redacted]', 'rtmp://host/app', 'srt://host:9000/[redacted]'] }],
      ingest_server: 'rtmps://live.fake.invalid:443/live/',
      playback_url: 'https://cdn.invalid/live/index.m3u8',
      token_count: 3,
      status: 'running',
    });
  });
});
