import { createHash } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
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
import {
  completedWithin,
  distinctStatuses,
  expectVersionsIncreasing,
  LIVESTREAM_READ,
  LIVESTREAM_WATCH,
  RECORDING_READ,
  RECORDING_WATCH,
  storedPayloads,
  storedTrace,
} from '../../webhooks/support.js';

describe('LIVEKIT webhooks', () => {
  let fake: LivekitFake;
  let server: TestServer;
  const clients: { dispose(): unknown }[] = [];

  async function boot(): Promise<void> {
    fake = await LivekitFake.start();
    server = await startServer({
      LIVEKIT_URL: fake.url,
      LIVEKIT_API_KEY: fake.apiKey,
      LIVEKIT_API_SECRET: fake.apiSecret,
    });
  }

  afterEach(async () => {
    for (const client of clients.splice(0)) await client.dispose();
    await server?.cleanup();
    await fake?.close();
  });

  const hook = () => `http://127.0.0.1:${server.port}/webhooks/livekit`;
  const room = () => `room-${crypto.randomUUID().slice(0, 8)}`;
  const readLivestream = async (id: string) => (await gql(server.url, LIVESTREAM_READ, { id })).data?.livestream;
  const readRecording = async (id: string) => (await gql(server.url, RECORDING_READ, { id })).data?.recording;
  const watch = (query: string, id: string) => {
    const client = wsClient(server.wsUrl);
    clients.push(client);
    return collect(client, query, { id });
  };
  async function startLivestream(roomId = room()) {
    const { data } = await gql(server.url, START_LIVESTREAM, { input: { provider: 'LIVEKIT', roomId } });
    expect(data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    return data?.startLivestream.livestream as { id: string; externalId: string; roomId: string };
  }
  async function startRecording(roomId = room()) {
    const { data } = await gql(server.url, START_RECORDING, { input: { provider: 'LIVEKIT', roomId } });
    expect(data?.startRecording.__typename).toBe('StartRecordingSuccess');
    return data?.startRecording.recording as { id: string; externalId: string; roomId: string };
  }
  /** A token LiveKit would not send: signed with `secret`, for `issuer`, claiming `claims`. */
  async function token(claims: Record<string, unknown>, options: { secret?: string; issuer?: string; exp?: number }) {
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(options.issuer ?? fake.apiKey)
      .setExpirationTime(options.exp ?? Math.floor(Date.now() / 1000) + 300)
      .sign(new TextEncoder().encode(options.secret ?? fake.apiSecret));
  }
  const sha256 = (raw: string) => createHash('sha256').update(raw).digest('base64');
  const post = (raw: string, authorization?: string) =>
    fetch(hook(), {
      method: 'POST',
      headers: { 'content-type': 'application/webhook+json', ...(authorization ? { authorization } : {}) },
      body: raw,
    });

  it('moves a livestream through its egress life while a subscriber watches', async () => {
    await boot();
    const livestream = await startLivestream();
    const seen = watch(LIVESTREAM_WATCH, livestream.id);
    await seen.waitFor(1);
    const egressId = livestream.externalId;

    expect((await fake.sendWebhook(hook(), fake.egressWebhook('egress_started', egressId))).status).toBe(200);
    fake.setStatus(egressId, 'EGRESS_ACTIVE');
    expect((await fake.sendWebhook(hook(), fake.egressWebhook('egress_updated', egressId))).status).toBe(200);
    await waitFor(async () => (await readLivestream(livestream.id)).status === 'LIVE', 5000);

    const stopped = await gql(server.url, STOP_LIVESTREAM, { id: livestream.id });
    expect(stopped.data?.stopLivestream.livestream.status).toBe('STOPPING');
    fake.setStatus(egressId, 'EGRESS_COMPLETE');
    expect((await fake.sendWebhook(hook(), fake.egressWebhook('egress_ended', egressId))).status).toBe(200);

    await completedWithin(seen);
    const events = seen.events.map((e: any) => e.livestreamChanged);
    expect(distinctStatuses(events)).toEqual(['STARTING', 'LIVE', 'STOPPING', 'STOPPED']);
    expectVersionsIncreasing(events);
    expect(events.at(-1)).toMatchObject({ status: 'STOPPED', vendorStatus: 'EGRESS_COMPLETE' });
    // The HLS playlist LiveKit reports becomes the playback URL.
    expect(events.find((e: any) => e.status === 'LIVE').playbackUrl).toMatch(/index\.m3u8$/);

    const read = await readLivestream(livestream.id);
    expect(read.history.filter((h: any) => h.source === 'WEBHOOK' && h.applied).map((h: any) => h.status)).toEqual([
      'LIVE',
      'STOPPED',
    ]);
    const payloads = (await storedPayloads(server.dbPath, livestream.id)).filter((p) => p.source === 'WEBHOOK');
    expect(JSON.parse(payloads.at(-1)!.payload!)).toMatchObject({ event: 'egress_ended', egressInfo: { egressId } });
  });

  it('moves a recording to COMPLETED with its file as an asset', async () => {
    await boot();
    const recording = await startRecording();
    const seen = watch(RECORDING_WATCH, recording.id);
    await seen.waitFor(1);
    const egressId = recording.externalId;

    fake.setStatus(egressId, 'EGRESS_ACTIVE');
    expect((await fake.sendWebhook(hook(), fake.egressWebhook('egress_updated', egressId))).status).toBe(200);
    await seen.waitFor(2);
    const stopped = await gql(server.url, STOP_RECORDING, { id: recording.id });
    expect(stopped.data?.stopRecording.recording.status).toBe('UPLOADING');
    fake.setStatus(egressId, 'EGRESS_COMPLETE');
    expect((await fake.sendWebhook(hook(), fake.egressWebhook('egress_ended', egressId))).status).toBe(200);

    await completedWithin(seen);
    const events = seen.events.map((e: any) => e.recordingChanged);
    expect(distinctStatuses(events)).toEqual(['STARTING', 'RECORDING', 'UPLOADING', 'COMPLETED']);
    expectVersionsIncreasing(events);
    const read = await readRecording(recording.id);
    expect(read.assets).toEqual([
      {
        type: 'file',
        path: `https://storage.livekit.test/recordings/${recording.id}.mp4`,
        size: 1048576,
        durationSeconds: 12.5,
        url: null,
        urlExpiresAt: null,
      },
    ]);
  });

  it('reads snake_case bodies too, and egress failures with their reason', async () => {
    await boot();
    const recording = await startRecording();
    fake.setStatus(recording.externalId, 'EGRESS_FAILED', { error: 'upload failed: access denied' });
    const camel = fake.egressWebhook('egress_ended', recording.externalId);
    const snake = JSON.parse(
      JSON.stringify(camel).replace(/"([a-z]+)([A-Z][A-Za-z]*)":/g, (_, head, tail) => {
        return `"${head}${tail.replace(/[A-Z]/g, (c: string) => `_${c.toLowerCase()}`)}":`;
      }),
    );
    expect(snake.egress_info.egress_id).toBe(recording.externalId);
    expect((await fake.sendWebhook(hook(), snake)).status).toBe(200);
    const read = await readRecording(recording.id);
    expect(read).toMatchObject({
      status: 'FAILED',
      vendorStatus: 'EGRESS_FAILED',
      failureReason: 'upload failed: access denied',
    });
  });

  it('refuses forged, tampered, unsigned, expired and oversized deliveries and stores nothing', async () => {
    await boot();
    const livestream = await startLivestream();
    const before = await storedTrace(server.dbPath);
    const beforeRead = await readLivestream(livestream.id);
    fake.setStatus(livestream.externalId, 'EGRESS_ACTIVE');
    const body = fake.egressWebhook('egress_updated', livestream.externalId);
    const raw = JSON.stringify(body);

    expect((await fake.sendWebhook(hook(), body, { signature: 'forged' })).status).toBe(401);
    expect((await fake.sendWebhook(hook(), body, { tamper: true })).status).toBe(401);
    expect((await fake.sendWebhook(hook(), body, { signature: 'none' })).status).toBe(401);
    // Right secret, but: another API key, no body hash, a hash of another body, expired.
    expect((await post(raw, await token({ sha256: sha256(raw) }, { issuer: 'APIsomeoneElse' }))).status).toBe(401);
    expect((await post(raw, await token({}, {}))).status).toBe(401);
    expect((await post(raw, await token({ sha256: sha256(`${raw} `) }, {}))).status).toBe(401);
    const expired = Math.floor(Date.now() / 1000) - 3600;
    expect((await post(raw, await token({ sha256: sha256(raw) }, { exp: expired }))).status).toBe(401);
    expect((await post(raw, 'not-a-jwt')).status).toBe(401);
    const huge = JSON.stringify({ ...body, padding: 'x'.repeat(1024 * 1024 + 10) });
    expect((await fake.sendWebhook(hook(), null, { raw: huge })).status).toBe(413);

    expect(await storedTrace(server.dbPath)).toEqual(before);
    expect(await readLivestream(livestream.id)).toEqual(beforeRead);
  });

  it('answers 400 to a signed body that is not LiveKit shape, storing nothing', async () => {
    await boot();
    const livestream = await startLivestream();
    const before = await storedTrace(server.dbPath);
    const info = fake.egressWebhook('egress_updated', livestream.externalId).egressInfo as Record<string, unknown>;
    const malformed = [
      'not json',
      '{}',
      '"egress_updated"',
      JSON.stringify({ id: 'EV_1', event: 'egress_updated' }),
      JSON.stringify({ id: 'EV_2', event: 'egress_updated', egressInfo: { ...info, egressId: undefined } }),
      JSON.stringify({ id: 'EV_3', event: 'egress_updated', egressInfo: { ...info, status: 'EGRESS_EXPLODED' } }),
      JSON.stringify({ id: 'EV_4', event: 'participant_joined', room: { name: livestream.roomId }, participant: {} }),
      JSON.stringify({ id: 'EV_5', event: 'room_started' }),
    ];
    for (const raw of malformed) expect((await fake.sendWebhook(hook(), null, { raw })).status, raw).toBe(400);
    expect(await storedTrace(server.dbPath)).toEqual(before);
    expect((await readLivestream(livestream.id)).status).toBe('STARTING');
  });

  it('answers a redelivery (same event id) 2xx and changes nothing', async () => {
    await boot();
    const livestream = await startLivestream();
    fake.setStatus(livestream.externalId, 'EGRESS_ACTIVE');
    const body = fake.egressWebhook('egress_updated', livestream.externalId);
    expect((await fake.sendWebhook(hook(), body)).status).toBe(200);
    const afterFirst = await readLivestream(livestream.id);
    const trace = await storedTrace(server.dbPath);
    expect(trace.deliveries.map((d) => d.delivery_id)).toEqual([body.id]);

    const again = await fake.sendWebhook(hook(), body);
    expect(again).toMatchObject({ status: 200, body: { duplicate: true } });
    expect(await readLivestream(livestream.id)).toEqual(afterFirst);
    expect(await storedTrace(server.dbPath)).toEqual(trace);
  });

  it('applies egress events that arrive before the start call has answered', async () => {
    await boot();
    const roomId = room();
    const gate = fake.holdNextStart();
    const starting = gql(server.url, START_RECORDING, { input: { provider: 'LIVEKIT', roomId } });
    const egressId = await gate.created;
    expect((await fake.sendWebhook(hook(), fake.egressWebhook('egress_started', egressId))).status).toBe(200);
    fake.setStatus(egressId, 'EGRESS_ACTIVE');
    const early = await fake.sendWebhook(hook(), fake.egressWebhook('egress_updated', egressId));
    expect(early).toMatchObject({ status: 200, body: { pending: false } });
    gate.release();

    const answered = await starting;
    expect(answered.data?.startRecording.recording).toMatchObject({ status: 'RECORDING', externalId: egressId });
    const read = await readRecording(answered.data?.startRecording.recording.id);
    // egress_started brought the egress id; the start's late STARTING is kept in history, refused.
    expect(read.history.map((h: any) => [h.status, h.source, h.applied])).toEqual([
      ['STARTING', 'API', true],
      ['STARTING', 'WEBHOOK', true],
      ['RECORDING', 'WEBHOOK', true],
      ['STARTING', 'API', false],
    ]);
  });

  it('drives recording automation: room_started records, the last real participant leaving stops it', async () => {
    await boot();
    const roomId = room();
    const set = await gql(
      server.url,
      `mutation Set($input: RoomAutomationInput!) {
        setRoomAutomation(input: $input) { __typename }
      }`,
      { input: { provider: 'LIVEKIT', roomId, recordOn: 'SESSION_START', stopWhenEmpty: true } },
    );
    expect(set.data?.setRoomAutomation.__typename).toBe('SetRoomAutomationSuccess');
    const deliver = async (payload: unknown) => {
      expect((await fake.sendWebhook(hook(), payload)).status).toBe(200);
      await server.app.services.automation.idle();
    };

    await deliver(fake.roomWebhook('room_started', roomId));
    expect(fake.calls('StartRoomCompositeEgress').map((c) => c.body.room_name)).toEqual([roomId]);
    await deliver(fake.participantWebhook('participant_joined', roomId, 'alice'));
    // LiveKit's own recorder joins as an EGRESS participant: it is nobody.
    await deliver(fake.participantWebhook('participant_joined', roomId, 'EG_recorder', 'EGRESS'));
    expect(fake.calls('StopEgress')).toHaveLength(0);
    await deliver(fake.participantWebhook('participant_left', roomId, 'alice'));
    expect(fake.calls('StopEgress')).toHaveLength(1);
    const { data } = await gql(server.url, '{ recordings(provider: LIVEKIT) { edges { node { status } } } }');
    expect(data?.recordings.edges.map((e: any) => e.node.status)).toEqual(['UPLOADING']);
  });

  it('takes room and participant events, recording each delivery (not those it does not act on)', async () => {
    await boot();
    const roomId = room();
    const events = [
      fake.roomWebhook('room_started', roomId),
      fake.participantWebhook('participant_joined', roomId, 'alice'),
      fake.participantWebhook('participant_joined', roomId, 'EG_recorder', 'EGRESS'),
      fake.participantWebhook('participant_left', roomId, 'alice'),
      fake.roomWebhook('room_finished', roomId),
      { event: 'track_published', id: 'EV_track', createdAt: '1700000000', room: { name: roomId } },
    ];
    for (const event of events) expect((await fake.sendWebhook(hook(), event)).status).toBe(200);
    const trace = await storedTrace(server.dbPath);
    const acted = events.filter((e) => e.event !== 'track_published');
    expect(trace.deliveries.map((d) => [d.delivery_id, d.event_type])).toEqual(acted.map((e) => [e.id, e.event]));
    expect(trace.statusEvents).toBe(0);
  });
});
