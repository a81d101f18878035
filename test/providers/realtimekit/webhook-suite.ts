import { afterEach, describe, expect, it } from 'vitest';
import type { RealtimeKitFake } from '../../fakes/realtimekit.js';
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

export type RealtimeKitVendorFake = RealtimeKitFake & {
  env: Record<string, string>;
  webhookEnv: Record<string, string>;
};

export interface RealtimeKitVendor {
  provider: 'CLOUDFLARE' | 'DYTE';
  path: string;
  start(): Promise<RealtimeKitVendorFake>;
  /** What the vendor's start answer says for a livestream. */
  livestreamStartStatus: string;
  /** Whether its livestream webhook names the meeting (correlation by room is then possible). */
  livestreamWebhookHasMeeting: boolean;
}

/** Signed webhooks over real HTTP for a vendor of the RealtimeKit family. */
export function realtimeKitWebhookSuite(vendor: RealtimeKitVendor): void {
  describe(`${vendor.provider} webhooks`, () => {
    let fake: RealtimeKitVendorFake;
    let server: TestServer;
    const clients: { dispose(): unknown }[] = [];

    async function boot(options: { webhooks?: boolean } = {}): Promise<void> {
      fake = await vendor.start();
      server = await startServer(options.webhooks === false ? fake.env : fake.webhookEnv);
    }

    afterEach(async () => {
      for (const client of clients.splice(0)) await client.dispose();
      await server?.cleanup();
      await fake?.close();
    });

    const hook = () => `http://127.0.0.1:${server.port}${vendor.path}`;
    const meeting = () => `meeting-${crypto.randomUUID().slice(0, 8)}`;
    const readLivestream = async (id: string) => (await gql(server.url, LIVESTREAM_READ, { id })).data?.livestream;
    const readRecording = async (id: string) => (await gql(server.url, RECORDING_READ, { id })).data?.recording;
    const watch = (query: string, id: string) => {
      const client = wsClient(server.wsUrl);
      clients.push(client);
      return collect(client, query, { id });
    };
    async function startLivestream(roomId = meeting()) {
      const { data } = await gql(server.url, START_LIVESTREAM, { input: { provider: vendor.provider, roomId } });
      expect(data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
      return data?.startLivestream.livestream as { id: string; externalId: string; version: number; roomId: string };
    }
    async function startRecording(roomId = meeting()) {
      const { data } = await gql(server.url, START_RECORDING, { input: { provider: vendor.provider, roomId } });
      expect(data?.startRecording.__typename).toBe('StartRecordingSuccess');
      return data?.startRecording.recording as { id: string; externalId: string; version: number; roomId: string };
    }

    it('moves a livestream through its life while a subscriber watches', async () => {
      await boot();
      const livestream = await startLivestream();
      const seen = watch(LIVESTREAM_WATCH, livestream.id);
      await seen.waitFor(1);

      fake.setLivestreamStatus(livestream.externalId, 'LIVE');
      const live = await fake.sendWebhook(hook(), fake.livestreamWebhook(livestream.externalId));
      expect(live.status).toBe(200);
      await seen.waitFor(2);

      const stopped = await gql(server.url, STOP_LIVESTREAM, { id: livestream.id });
      expect(stopped.data?.stopLivestream.livestream.status).toBe('STOPPING');
      // The vendor ends it and says so: OFFLINE once it was live is its end.
      const ended = await fake.sendWebhook(hook(), fake.livestreamWebhook(livestream.externalId, 'OFFLINE'));
      expect(ended.status).toBe(200);

      await completedWithin(seen);
      const events = seen.events.map((e: any) => e.livestreamChanged);
      expect(events[0].status).toBe('STARTING');
      expect(distinctStatuses(events)).toEqual(['STARTING', 'LIVE', 'STOPPING', 'STOPPED']);
      expectVersionsIncreasing(events);
      expect(events.at(-1)).toMatchObject({ status: 'STOPPED', vendorStatus: 'OFFLINE' });

      const read = await readLivestream(livestream.id);
      const fromWebhooks = read.history.filter((h: any) => h.source === 'WEBHOOK');
      expect(fromWebhooks.map((h: any) => [h.status, h.vendorStatus, h.applied])).toEqual([
        ['LIVE', 'LIVE', true],
        ['STOPPED', 'OFFLINE', true],
      ]);
      // The raw delivery is kept in history, with the stream key out of it.
      const payloads = (await storedPayloads(server.dbPath, livestream.id)).filter((p) => p.source === 'WEBHOOK');
      expect(payloads).toHaveLength(2);
      expect(JSON.parse(payloads[0]!.payload!)).toMatchObject({
        event: 'livestreaming.statusUpdate',
        streamId: livestream.externalId,
        status: 'LIVE',
      });
      const streamKey = fake.livestreams.get(livestream.externalId)!.stream_key;
      for (const payload of payloads) expect(payload.payload).not.toContain(streamKey);
      expect((await storedTrace(server.dbPath)).deliveries.map((d) => d.processed_at !== null)).toEqual([true, true]);
    });

    it('moves a recording through its life to COMPLETED with its file as an asset', async () => {
      await boot();
      const recording = await startRecording();
      const seen = watch(RECORDING_WATCH, recording.id);
      await seen.waitFor(1);

      const send = async (status: string) => {
        fake.setRecordingStatus(recording.externalId, status);
        const answer = await fake.sendWebhook(hook(), fake.recordingWebhook(recording.externalId));
        expect(answer.status).toBe(200);
      };
      await send('RECORDING');
      await send('PAUSED');
      await send('RECORDING');
      const stopped = await gql(server.url, STOP_RECORDING, { id: recording.id });
      expect(stopped.data?.stopRecording.recording.status).toBe('STOPPING');
      await send('UPLOADING');
      await send('UPLOADED');

      await completedWithin(seen);
      const events = seen.events.map((e: any) => e.recordingChanged);
      expect(distinctStatuses(events)).toEqual([
        'STARTING',
        'RECORDING',
        'PAUSED',
        'RECORDING',
        'STOPPING',
        'UPLOADING',
        'COMPLETED',
      ]);
      expectVersionsIncreasing(events);
      const vendorRecording = fake.recordings.get(recording.externalId)!;
      expect(events.at(-1).assets).toEqual([
        {
          type: 'composite',
          url: vendorRecording.download_url,
          size: vendorRecording.file_size,
          urlExpiresAt: new Date(vendorRecording.download_url_expiry!).toISOString(),
        },
      ]);
      const read = await readRecording(recording.id);
      expect(read).toMatchObject({ status: 'COMPLETED', vendorStatus: 'UPLOADED' });
      expect(read.history.filter((h: any) => h.source === 'WEBHOOK').map((h: any) => h.status)).toEqual([
        'RECORDING',
        'PAUSED',
        'RECORDING',
        'UPLOADING',
        'COMPLETED',
      ]);
    });

    it('ends a livestream and a recording FAILED, with a reason, when the vendor reports ERRORED', async () => {
      await boot();
      const livestream = await startLivestream();
      const recording = await startRecording();
      fake.setLivestreamStatus(livestream.externalId, 'ERRORED', { active: false });
      expect((await fake.sendWebhook(hook(), fake.livestreamWebhook(livestream.externalId))).status).toBe(200);
      fake.setRecordingStatus(recording.externalId, 'ERRORED', { stop_reason: 'RECORDER_CRASHED' });
      expect((await fake.sendWebhook(hook(), fake.recordingWebhook(recording.externalId))).status).toBe(200);

      expect(await readLivestream(livestream.id)).toMatchObject({
        status: 'FAILED',
        vendorStatus: 'ERRORED',
        failureReason: `${vendor.provider} reported the livestream ERRORED`,
      });
      expect(await readRecording(recording.id)).toMatchObject({
        status: 'FAILED',
        vendorStatus: 'ERRORED',
        failureReason: `${vendor.provider} reported the recording ERRORED: RECORDER_CRASHED`,
        assets: [],
      });
    });

    it('refuses forged, tampered, unsigned and oversized deliveries and stores nothing', async () => {
      await boot();
      const livestream = await startLivestream();
      const before = await storedTrace(server.dbPath);
      const beforeRead = await readLivestream(livestream.id);
      fake.setLivestreamStatus(livestream.externalId, 'LIVE');
      const body = fake.livestreamWebhook(livestream.externalId);

      expect((await fake.sendWebhook(hook(), body, { signature: 'forged' })).status).toBe(401);
      expect((await fake.sendWebhook(hook(), body, { tamper: true })).status).toBe(401);
      expect((await fake.sendWebhook(hook(), body, { signature: 'none' })).status).toBe(401);
      // A signature over another body (a replayed header) proves nothing about this one.
      const other = JSON.stringify({ ...body, status: 'ERRORED' });
      const replayed = await fetch(hook(), {
        method: 'POST',
        headers: { 'content-type': 'application/json', [signatureHeader()]: fake.signWebhook(JSON.stringify(body)) },
        body: other,
      });
      expect(replayed.status).toBe(401);
      const garbage = await fetch(hook(), {
        method: 'POST',
        headers: { 'content-type': 'application/json', [signatureHeader()]: 'not base64 at all!' },
        body: JSON.stringify(body),
      });
      expect(garbage.status).toBe(401);
      // Validly signed, but over 1 MiB: refused before it is read.
      const huge = JSON.stringify({ ...body, padding: 'x'.repeat(1024 * 1024 + 10) });
      expect((await fake.sendWebhook(hook(), null, { raw: huge })).status).toBe(413);

      expect(await storedTrace(server.dbPath)).toEqual(before);
      const after = await readLivestream(livestream.id);
      expect(after).toEqual(beforeRead);
      expect(after.status).toBe('STARTING');
    });

    it('answers 400 to a signed body that is not the vendor shape, storing nothing', async () => {
      await boot();
      const livestream = await startLivestream();
      const before = await storedTrace(server.dbPath);
      const malformed: string[] = [
        'this is not json',
        '[1, 2, 3]',
        '{"hello": "world"}',
        JSON.stringify({ event: 'recording.statusUpdate', recording: { status: 'UPLOADED' } }),
        JSON.stringify({ event: 'livestreaming.statusUpdate', status: 'LIVE' }),
        JSON.stringify({ event: 'meeting.participantJoined', meeting: { id: livestream.roomId }, participant: {} }),
        JSON.stringify({ event: 'meeting.started' }),
      ];
      for (const raw of malformed) {
        const answer = await fake.sendWebhook(hook(), null, { raw });
        expect(answer.status, raw).toBe(400);
      }
      expect(await storedTrace(server.dbPath)).toEqual(before);
      expect((await readLivestream(livestream.id)).status).toBe('STARTING');
    });

    it('answers a redelivery 2xx and changes nothing', async () => {
      await boot();
      const livestream = await startLivestream();
      fake.setLivestreamStatus(livestream.externalId, 'LIVE');
      const body = fake.livestreamWebhook(livestream.externalId);
      const first = await fake.sendWebhook(hook(), body);
      expect(first.status).toBe(200);
      const afterFirst = await readLivestream(livestream.id);
      const traceAfterFirst = await storedTrace(server.dbPath);
      expect(afterFirst.status).toBe('LIVE');

      const again = await fake.sendWebhook(hook(), body, { uuid: first.uuid });
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ duplicate: true });
      expect(await readLivestream(livestream.id)).toEqual(afterFirst);
      expect(await storedTrace(server.dbPath)).toEqual(traceAfterFirst);

      // The same signed bytes under a new delivery id (the uuid header is not signed) are a
      // replay: a duplicate, and nothing moves.
      const same = await fake.sendWebhook(hook(), body);
      expect(same.status).toBe(200);
      expect(same.body).toMatchObject({ duplicate: true });
      expect(await readLivestream(livestream.id)).toEqual(afterFirst);
      expect(await storedTrace(server.dbPath)).toEqual(traceAfterFirst);
    });

    it('applies a webhook that arrives before the start call has answered', async () => {
      await boot();
      const roomId = meeting();
      const gate = fake.holdNextStart();
      const starting = gql(server.url, START_LIVESTREAM, { input: { provider: vendor.provider, roomId } });
      const vendorId = await gate.created;
      fake.setLivestreamStatus(vendorId, 'LIVE');
      const early = await fake.sendWebhook(hook(), fake.livestreamWebhook(vendorId));
      expect(early.status).toBe(200);
      // Without the meeting in the body there is nothing to correlate it with yet: it waits.
      expect(early.body.pending).toBe(!vendor.livestreamWebhookHasMeeting);
      gate.release();

      const answered = await starting;
      expect(answered.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
      const id = answered.data?.startLivestream.livestream.id as string;
      const final = await waitFor(async () => {
        const read = await readLivestream(id);
        return read?.status === 'LIVE' ? read : null;
      }, 5000);
      expect(final).toMatchObject({ externalId: vendorId, vendorStatus: 'LIVE' });
      expect(final.history.some((h: any) => h.source === 'WEBHOOK' && h.status === 'LIVE' && h.applied)).toBe(true);
      await waitFor(
        async () => (await storedTrace(server.dbPath)).deliveries.every((d) => d.processed_at !== null),
        5000,
      );
    });

    it('keeps an event for a stream it does not know, answering 2xx, and changes nothing', async () => {
      await boot();
      const stranger = fake.addLivestream(meeting(), 'LIVE');
      const before = await storedTrace(server.dbPath);
      const answer = await fake.sendWebhook(hook(), fake.livestreamWebhook(stranger.id));
      expect(answer.status).toBe(200);
      expect(answer.body.pending).toBe(true);
      const after = await storedTrace(server.dbPath);
      expect(after.statusEvents).toBe(before.statusEvents);
      expect(after.deliveries).toHaveLength(1);
      expect(after.deliveries[0]).toMatchObject({
        provider: vendor.provider,
        delivery_id: answer.uuid,
        event_type: 'livestreaming.statusUpdate',
        processed_at: null,
      });
      const { data } = await gql(server.url, '{ activeLivestreams { id } }');
      expect(data?.activeLivestreams).toEqual([]);
    });

    it('takes meeting and participant events, recording each delivery (not those it does not act on)', async () => {
      await boot();
      const roomId = meeting();
      const events = [
        fake.meetingWebhook('meeting.started', roomId),
        fake.participantWebhook('meeting.participantJoined', roomId, 'peer-1'),
        fake.participantWebhook('meeting.participantJoined', roomId, 'recorder-1', { isRecorder: true }),
        fake.participantWebhook('meeting.participantLeft', roomId, 'peer-1'),
        fake.meetingWebhook('meeting.ended', roomId),
        { event: 'meeting.chatSynced', meeting: { id: roomId } },
      ];
      for (const event of events) expect((await fake.sendWebhook(hook(), event)).status).toBe(200);
      const trace = await storedTrace(server.dbPath);
      expect(trace.deliveries.map((d) => d.event_type)).toEqual(
        events.filter((e) => e.event !== 'meeting.chatSynced').map((e) => e.event),
      );
      expect(trace.statusEvents).toBe(0);
    });

    it('refuses every delivery when no public key is configured', async () => {
      await boot({ webhooks: false });
      const livestream = await startLivestream();
      fake.setLivestreamStatus(livestream.externalId, 'LIVE');
      const answer = await fake.sendWebhook(hook(), fake.livestreamWebhook(livestream.externalId));
      expect(answer.status).toBe(401);
      expect((await storedTrace(server.dbPath)).deliveries).toEqual([]);
      expect((await readLivestream(livestream.id)).status).toBe('STARTING');
    });

    function signatureHeader(): string {
      return vendor.provider === 'CLOUDFLARE' ? 'rtk-signature' : 'dyte-signature';
    }
  });
}
