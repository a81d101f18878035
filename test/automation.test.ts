import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type DyteFake, startDyteFake } from './fakes/dyte.js';
import { FakeHms } from './fakes/hms.js';
import { gql, startServer, type TestServer } from './helpers.js';

const ACCESS_KEY = 'hms-automation-access-key';
const APP_SECRET = 'hms-automation-app-secret-0000';
const WEBHOOK_SECRET = 'automation-dashboard-secret-header';

const SET_AUTOMATION = `mutation Set($input: RoomAutomationInput!) {
  setRoomAutomation(input: $input) {
    __typename
    ... on SetRoomAutomationSuccess { automation { provider roomId recordOn stopWhenEmpty meetingUrl } }
    ... on Error { message code }
  }
}`;
const ROOM = `query Room($id: ID!) {
  _entities(representations: [{ __typename: "Room", id: $id }]) {
    ... on Room {
      id
      automation { provider roomId recordOn stopWhenEmpty meetingUrl }
      activeRecording { id status externalId }
      recordings { id status externalId failureReason }
    }
  }
}`;

interface RoomView {
  automation: { recordOn: string; stopWhenEmpty: boolean; meetingUrl: string | null } | null;
  activeRecording: { id: string; status: string; externalId: string | null } | null;
  recordings: { id: string; status: string; externalId: string | null; failureReason: string | null }[];
}

let fake: FakeHms;
let server: TestServer;
let counter = 0;

beforeAll(async () => {
  fake = await FakeHms.start({ accessKey: ACCESS_KEY, appSecret: APP_SECRET });
});
afterAll(async () => {
  await fake.close();
});
beforeEach(async () => {
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
afterEach(async () => {
  await server.cleanup();
});

/** A fresh room, with the page a recorder opens. */
function newRoom() {
  const roomId = `auto-room-${++counter}`;
  return {
    roomId,
    sessionId: `session-${roomId}`,
    meetingUrl: `https://acme.app.100ms.live/preview/${roomId}/__internal_recorder?skip_preview=true`,
  };
}

async function setRule(input: Record<string, unknown>) {
  const result = await gql(server.url, SET_AUTOMATION, { input: { provider: 'HMS', ...input } });
  expect(result.data?.setRoomAutomation.__typename).toBe('SetRoomAutomationSuccess');
  return result.data?.setRoomAutomation.automation;
}

async function roomView(roomId: string): Promise<RoomView> {
  const result = await gql(server.url, ROOM, { id: roomId });
  expect(result.errors).toBeUndefined();
  return result.data?._entities[0] as RoomView;
}

/** Sends a 100ms room event and waits until automation has acted on it. */
async function roomEvent(type: string, data: Record<string, unknown>): Promise<void> {
  const answer = await fake.sendWebhook(type, data);
  expect(answer.status).toBe(200);
  await server.app.services.automation.idle();
}

const startCalls = (roomId: string) => fake.calls('POST', new RegExp(`^/recordings/room/${roomId}/start$`));
const peer = (room: { roomId: string; sessionId: string }, peerId: string, role = 'host') => ({
  room_id: room.roomId,
  session_id: room.sessionId,
  peer_id: peerId,
  role,
  user_name: peerId,
});
const recorder = (room: { roomId: string; sessionId: string }) => peer(room, 'beam-peer', '__internal_recorder');

describe('recording automation', () => {
  it('stores a rule readable on the Room', async () => {
    const room = newRoom();
    expect(await setRule({ roomId: room.roomId, recordOn: 'SESSION_START', meetingUrl: room.meetingUrl })).toEqual({
      provider: 'HMS',
      roomId: room.roomId,
      recordOn: 'SESSION_START',
      stopWhenEmpty: false,
      meetingUrl: room.meetingUrl,
    });
    expect((await roomView(room.roomId)).automation).toMatchObject({ recordOn: 'SESSION_START' });
  });

  it('SESSION_START starts exactly one recording per session, however often the session opens', async () => {
    const room = newRoom();
    await setRule({ roomId: room.roomId, recordOn: 'SESSION_START', meetingUrl: room.meetingUrl });
    const opened = { room_id: room.roomId, session_id: room.sessionId };
    await roomEvent('session.open.success', opened);
    await roomEvent('session.open.success', opened);
    // And two more at once, as a retry racing the original would.
    const racing = await Promise.all([
      fake.sendWebhook('session.open.success', opened),
      fake.sendWebhook('session.open.success', opened),
    ]);
    expect(racing.map((a) => a.status)).toEqual([200, 200]);
    await server.app.services.automation.idle();

    expect(startCalls(room.roomId)).toHaveLength(1);
    expect(startCalls(room.roomId)[0]?.body).toMatchObject({ meeting_url: room.meetingUrl });
    const view = await roomView(room.roomId);
    expect(view.recordings).toHaveLength(1);
    expect(view.activeRecording).toMatchObject({ status: 'STARTING', externalId: expect.any(String) });
  });

  it('FIRST_PEER_JOIN starts on the first real peer, not on 100ms’s recorder', async () => {
    const room = newRoom();
    await setRule({ roomId: room.roomId, recordOn: 'FIRST_PEER_JOIN', meetingUrl: room.meetingUrl });
    await roomEvent('session.open.success', { room_id: room.roomId, session_id: room.sessionId });
    await roomEvent('peer.join.success', recorder(room));
    expect(startCalls(room.roomId)).toHaveLength(0);

    await roomEvent('peer.join.success', peer(room, 'alice'));
    await roomEvent('peer.join.success', peer(room, 'bob'));
    expect(startCalls(room.roomId)).toHaveLength(1);
    expect((await roomView(room.roomId)).recordings).toHaveLength(1);
  });

  it('stopWhenEmpty stops the recording the moment the last real peer leaves', async () => {
    const room = newRoom();
    await setRule({
      roomId: room.roomId,
      recordOn: 'FIRST_PEER_JOIN',
      stopWhenEmpty: true,
      meetingUrl: room.meetingUrl,
    });
    await roomEvent('peer.join.success', peer(room, 'alice'));
    await roomEvent('peer.join.success', peer(room, 'bob'));
    await roomEvent('peer.join.success', recorder(room));
    const { activeRecording } = await roomView(room.roomId);
    expect(activeRecording?.externalId).toBeTruthy();
    const externalId = activeRecording?.externalId ?? '';
    fake.setStatus(externalId, 'running');
    await roomEvent('beam.started.success', fake.webhookData(externalId));
    const stopCalls = () => fake.calls('POST', new RegExp(`^/recordings/(${externalId}|room/${room.roomId})/stop$`));

    await roomEvent('peer.leave.success', peer(room, 'alice'));
    expect(stopCalls()).toHaveLength(0);
    // The recorder is still "in the room", but it is no one.
    await roomEvent('peer.leave.success', peer(room, 'bob'));
    expect(stopCalls()).toHaveLength(1);
    expect(fake.jobs.recordings.get(externalId)?.status).toBe('stopping');
    const view = await roomView(room.roomId);
    expect(view.recordings[0]).toMatchObject({ id: activeRecording?.id, status: 'STOPPING' });

    // The recorder leaving afterwards asks for nothing more.
    await roomEvent('peer.leave.success', recorder(room));
    expect(stopCalls()).toHaveLength(1);
  });

  it('stopWhenEmpty stops the recording when the session closes', async () => {
    const room = newRoom();
    await setRule({ roomId: room.roomId, recordOn: 'SESSION_START', stopWhenEmpty: true, meetingUrl: room.meetingUrl });
    await roomEvent('session.open.success', { room_id: room.roomId, session_id: room.sessionId });
    const externalId = (await roomView(room.roomId)).activeRecording?.externalId ?? '';
    expect(externalId).toBeTruthy();
    await roomEvent('session.close.success', { room_id: room.roomId, session_id: room.sessionId });
    expect(fake.calls('POST', new RegExp(`^/recordings/${externalId}/stop$`))).toHaveLength(1);
  });

  it('without stopWhenEmpty, the last peer leaving leaves the recording to 100ms', async () => {
    const room = newRoom();
    await setRule({ roomId: room.roomId, recordOn: 'FIRST_PEER_JOIN', meetingUrl: room.meetingUrl });
    await roomEvent('peer.join.success', peer(room, 'alice'));
    await roomEvent('peer.leave.success', peer(room, 'alice'));
    expect(startCalls(room.roomId)).toHaveLength(1);
    expect(fake.calls('POST', /\/stop$/).filter((call) => call.path.includes(room.roomId))).toHaveLength(0);
    expect((await roomView(room.roomId)).activeRecording).not.toBeNull();
  });

  it('NEVER does nothing', async () => {
    const room = newRoom();
    await setRule({ roomId: room.roomId, recordOn: 'NEVER', stopWhenEmpty: true, meetingUrl: room.meetingUrl });
    await roomEvent('session.open.success', { room_id: room.roomId, session_id: room.sessionId });
    await roomEvent('peer.join.success', peer(room, 'alice'));
    await roomEvent('peer.leave.success', peer(room, 'alice'));
    expect(startCalls(room.roomId)).toHaveLength(0);
    expect((await roomView(room.roomId)).recordings).toHaveLength(0);
  });

  it('a room without a rule is left alone', async () => {
    const room = newRoom();
    await roomEvent('session.open.success', { room_id: room.roomId, session_id: room.sessionId });
    await roomEvent('peer.join.success', peer(room, 'alice'));
    expect(startCalls(room.roomId)).toHaveLength(0);
  });

  it('a start the vendor refuses is logged and visible, and never breaks the webhook answer', async () => {
    const room = newRoom();
    // No meeting URL: 100ms refuses a browser-composite recording without one.
    await setRule({ roomId: room.roomId, recordOn: 'SESSION_START' });
    await roomEvent('session.open.success', { room_id: room.roomId, session_id: room.sessionId });
    expect(startCalls(room.roomId)).toHaveLength(1);
    const view = await roomView(room.roomId);
    expect(view.recordings).toEqual([expect.objectContaining({ status: 'FAILED' })]);
    expect(view.recordings[0]?.failureReason).toContain('meeting_url');
  });
});

describe('recording automation on Dyte meeting events', () => {
  let dyte: DyteFake;
  let dyteServer: TestServer;

  beforeAll(async () => {
    dyte = await startDyteFake();
    dyteServer = await startServer({ ...dyte.webhookEnv, POLL_INTERVAL_MS: '3600000' });
  });
  afterAll(async () => {
    await dyteServer.cleanup();
    await dyte.close();
  });

  async function dyteEvent(payload: unknown): Promise<void> {
    const answer = await dyte.sendWebhook(`http://127.0.0.1:${dyteServer.port}/webhooks/dyte`, payload);
    expect(answer.status).toBe(200);
    await dyteServer.app.services.automation.idle();
  }

  it('starts on meeting.started and stops when the last real participant leaves', async () => {
    const meetingId = `dyte-meeting-${++counter}`;
    const set = await gql(dyteServer.url, SET_AUTOMATION, {
      input: { provider: 'DYTE', roomId: meetingId, recordOn: 'SESSION_START', stopWhenEmpty: true },
    });
    expect(set.data?.setRoomAutomation.__typename).toBe('SetRoomAutomationSuccess');
    const starts = () =>
      dyte
        .requestsTo('POST', /\/recordings$/)
        .filter((r) => (r.body as { meeting_id?: string })?.meeting_id === meetingId);

    await dyteEvent(dyte.meetingWebhook('meeting.started', meetingId));
    await dyteEvent(dyte.meetingWebhook('meeting.started', meetingId));
    expect(starts()).toHaveLength(1);
    const active = (await gql(dyteServer.url, ROOM, { id: meetingId })).data?._entities[0].activeRecording;
    expect(active?.externalId).toBeTruthy();

    await dyteEvent(dyte.participantWebhook('meeting.participantJoined', meetingId, 'alice'));
    await dyteEvent(dyte.participantWebhook('meeting.participantJoined', meetingId, 'bob'));
    await dyteEvent(dyte.participantWebhook('meeting.participantLeft', meetingId, 'alice'));
    const stops = () => dyte.requestsTo('PUT', new RegExp(`/recordings/${active?.externalId}$`));
    expect(stops()).toHaveLength(0);
    await dyteEvent(dyte.participantWebhook('meeting.participantLeft', meetingId, 'bob'));
    expect(stops()).toHaveLength(1);
    expect(stops()[0]?.body).toMatchObject({ action: 'stop' });
  });
});
