import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCloudflareFake } from '../fakes/cloudflare.js';
import { startDyteFake } from '../fakes/dyte.js';
import { FakeHms } from '../fakes/hms.js';
import type { RealtimeKitFake } from '../fakes/realtimekit.js';
import { gql, startServer, type TestServer } from '../helpers.js';

/**
 * Issue 10 item 2: RealtimeKit and Dyte sign the body only (their uuid header is not signed), so
 * the signed bytes of an old `meeting.ended` resent under a new uuid must change nothing; and a
 * late `meeting.ended` / `session.close.success` of an earlier session must not stop the
 * recording of the session the room is in now. Real signed deliveries over HTTP, vendor fakes.
 */

const SET_AUTOMATION = `mutation Set($input: RoomAutomationInput!) {
  setRoomAutomation(input: $input) { __typename }
}`;
const ROOM = `query Room($id: ID!) {
  _entities(representations: [{ __typename: "Room", id: $id }]) {
    ... on Room { activeRecording { id status externalId } recordings { id status externalId } }
  }
}`;

type RtkFake = RealtimeKitFake & { env: Record<string, string>; webhookEnv: Record<string, string> };

for (const vendor of [
  { provider: 'CLOUDFLARE', path: 'cloudflare', start: startCloudflareFake },
  { provider: 'DYTE', path: 'dyte', start: startDyteFake },
] as const) {
  describe(`${vendor.provider}: replayed and late meeting events`, () => {
    let fake: RtkFake;
    let server: TestServer;
    let counter = 0;

    beforeAll(async () => {
      fake = (await vendor.start()) as RtkFake;
      server = await startServer({ ...fake.webhookEnv, POLL_INTERVAL_MS: '3600000' });
    });
    afterAll(async () => {
      await server?.cleanup();
      await fake?.close();
    });

    const hook = () => `http://127.0.0.1:${server.port}/webhooks/${vendor.path}`;
    async function deliver(payload: unknown, options: { raw?: string; uuid?: string } = {}) {
      const answer = await fake.sendWebhook(hook(), payload, options);
      expect(answer.status).toBe(200);
      await server.app.services.automation.idle();
      return answer;
    }
    async function room(meetingId: string) {
      return (await gql(server.url, ROOM, { id: meetingId })).data?._entities[0];
    }
    const stops = (externalId: string) => fake.requestsTo('PUT', new RegExp(`/recordings/${externalId}$`));

    async function withRule() {
      const meetingId = `replay-meeting-${vendor.provider}-${++counter}`;
      const set = await gql(server.url, SET_AUTOMATION, {
        input: { provider: vendor.provider, roomId: meetingId, recordOn: 'SESSION_START', stopWhenEmpty: true },
      });
      expect(set.data?.setRoomAutomation.__typename).toBe('SetRoomAutomationSuccess');
      return meetingId;
    }

    it("answers the signed bytes of an old session's meeting.ended, resent under a new uuid, as a duplicate: the next session's recording goes on", async () => {
      const meetingId = await withRule();
      await deliver(fake.meetingWebhook('meeting.started', meetingId, 'session-A'));
      const first = (await room(meetingId)).activeRecording;
      expect(first?.externalId).toBeTruthy();

      const endedA = JSON.stringify(fake.meetingWebhook('meeting.ended', meetingId, 'session-A'));
      await deliver(null, { raw: endedA });
      expect(stops(first.externalId)).toHaveLength(1);
      fake.setRecordingStatus(first.externalId, 'UPLOADED');
      await deliver(fake.recordingWebhook(first.externalId));

      await deliver(fake.meetingWebhook('meeting.started', meetingId, 'session-B'));
      const second = (await room(meetingId)).activeRecording;
      expect(second?.externalId).toBeTruthy();
      expect(second.id).not.toBe(first.id);

      // The attacker (or a confused proxy) resends the old signed bytes with a fresh uuid.
      const replay = await deliver(null, { raw: endedA, uuid: `${vendor.path}-${crypto.randomUUID()}` });
      expect(replay.body).toMatchObject({ duplicate: true });
      expect(stops(second.externalId)).toHaveLength(0);
      expect((await room(meetingId)).activeRecording).toMatchObject({ id: second.id, status: second.status });
    });

    it('lets a late meeting.ended of an earlier session stop nothing', async () => {
      const meetingId = await withRule();
      await deliver(fake.meetingWebhook('meeting.started', meetingId, 'session-2'));
      const current = (await room(meetingId)).activeRecording;
      expect(current?.externalId).toBeTruthy();

      // Never delivered before (so not a duplicate), but of the session before this one.
      await deliver(fake.meetingWebhook('meeting.ended', meetingId, 'session-1'));
      expect(stops(current.externalId)).toHaveLength(0);
      expect((await room(meetingId)).activeRecording?.id).toBe(current.id);

      // A late start of the earlier session (it began an hour ago) does not take the room back.
      const lateStart = fake.meetingWebhook('meeting.started', meetingId, 'session-1') as {
        meeting: { startedAt: string };
      };
      lateStart.meeting.startedAt = new Date(Date.now() - 3_600_000).toISOString();
      const startsBefore = fake.requestsTo('POST', /\/recordings$/).length;
      await deliver(lateStart);
      expect(fake.requestsTo('POST', /\/recordings$/)).toHaveLength(startsBefore);

      // The current session's own end still stops it.
      await deliver(fake.meetingWebhook('meeting.ended', meetingId, 'session-2'));
      expect(stops(current.externalId)).toHaveLength(1);
    });
  });
}

describe('100ms: replayed and late session events', () => {
  const ACCESS_KEY = 'hms-access-key-replay';
  const APP_SECRET = 'hms-app-secret-replay-0123456789';
  const WEBHOOK_SECRET = 'hms-webhook-secret-replay';
  let fake: FakeHms;
  let server: TestServer;

  beforeAll(async () => {
    fake = await FakeHms.start({ accessKey: ACCESS_KEY, appSecret: APP_SECRET });
    server = await startServer({
      HMS_ACCESS_KEY: ACCESS_KEY,
      HMS_APP_SECRET: APP_SECRET,
      HMS_API_URL: fake.url,
      HMS_WEBHOOK_SECRET: WEBHOOK_SECRET,
      POLL_INTERVAL_MS: '3600000',
    });
    fake.webhookTarget = {
      url: `http://127.0.0.1:${server.port}/webhooks/hms`,
      headers: { 'x-hms-webhook-secret': WEBHOOK_SECRET },
    };
  });
  afterAll(async () => {
    await server?.cleanup();
    await fake?.close();
  });

  async function roomEvent(type: string, data: Record<string, unknown>, options: { id?: string } = {}) {
    const answer = await fake.sendWebhook(type, data, options);
    expect(answer.status).toBe(200);
    await server.app.services.automation.idle();
    return answer;
  }
  async function active(roomId: string) {
    return (await gql(server.url, ROOM, { id: roomId })).data?._entities[0].activeRecording;
  }
  const stops = (roomId: string, externalId: string) =>
    fake.calls('POST', new RegExp(`^/recordings/(${externalId}|room/${roomId})/stop$`));

  it('stops nothing on a late session.close.success of an earlier session, nor on its redelivery', async () => {
    const roomId = 'hms-replay-room';
    const meetingUrl = `https://acme.app.100ms.live/preview/${roomId}/__internal_recorder?skip_preview=true`;
    const set = await gql(server.url, SET_AUTOMATION, {
      input: { provider: 'HMS', roomId, recordOn: 'SESSION_START', stopWhenEmpty: true, meetingUrl },
    });
    expect(set.data?.setRoomAutomation.__typename).toBe('SetRoomAutomationSuccess');

    await roomEvent('session.open.success', { room_id: roomId, session_id: 'session-A' });
    const first = await active(roomId);
    const closedA = await roomEvent('session.close.success', { room_id: roomId, session_id: 'session-A' });
    expect(stops(roomId, first.externalId)).toHaveLength(1);
    fake.setStatus(first.externalId, 'completed');
    await roomEvent('beam.recording.success', fake.webhookData(first.externalId));

    await roomEvent('session.open.success', { room_id: roomId, session_id: 'session-B' });
    const second = await active(roomId);
    expect(second?.id).toBeTruthy();
    expect(second.id).not.toBe(first.id);

    // A redelivery of session A's close (same envelope id), then a late close of session A that
    // 100ms sent under another id: neither touches session B's recording.
    expect(
      (await roomEvent('session.close.success', { room_id: roomId, session_id: 'session-A' }, { id: closedA.id })).body,
    ).toMatchObject({ duplicate: true });
    await roomEvent('session.close.success', { room_id: roomId, session_id: 'session-A' });
    expect(stops(roomId, second.externalId)).toHaveLength(0);
    expect((await active(roomId))?.id).toBe(second.id);

    await roomEvent('session.close.success', { room_id: roomId, session_id: 'session-B' });
    expect(stops(roomId, second.externalId)).toHaveLength(1);
  });
});
