import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeHms } from '../fakes/hms.js';
import { LivekitFake } from '../fakes/livekit.js';
import { gql, START_LIVESTREAM, START_RECORDING, startServer, type TestServer } from '../helpers.js';

/**
 * Caller URLs and vendor ids reach vendors (and a self-hosted egress browser inside the operator's
 * network): each is checked before any vendor call, and a bad one is a ValidationError naming it.
 */

const ACCESS_KEY = 'hms-access-key-0123';
const APP_SECRET = 'hms-app-secret-must-never-leak-4f9a';
const SET_AUTOMATION = `mutation Set($input: RoomAutomationInput!) {
  setRoomAutomation(input: $input) { __typename ... on Error { code message } ... on ValidationError { field } }
}`;

let hms: FakeHms;
let livekit: LivekitFake;
let server: TestServer;

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    HMS_ACCESS_KEY: ACCESS_KEY,
    HMS_APP_SECRET: APP_SECRET,
    HMS_API_URL: hms.url,
    LIVEKIT_URL: livekit.url,
    LIVEKIT_API_KEY: livekit.apiKey,
    LIVEKIT_API_SECRET: livekit.apiSecret,
    VENDOR_MAX_RETRIES: '0',
    ...extra,
  };
}

beforeAll(async () => {
  hms = await FakeHms.start({ accessKey: ACCESS_KEY, appSecret: APP_SECRET });
  livekit = await LivekitFake.start();
  server = await startServer(env());
});
afterAll(async () => {
  await server.cleanup();
  await hms.close();
  await livekit.close();
});

/** Vendor requests other than token fetches, so far. */
const vendorCalls = () => hms.requests.length + livekit.requests.length;

async function refused(mutation: string, input: Record<string, unknown>, field: string) {
  const before = vendorCalls();
  const result = await gql(server.url, mutation, { input });
  const answer = result.data?.startLivestream ?? result.data?.startRecording ?? result.data?.setRoomAutomation;
  expect(answer, JSON.stringify(input)).toMatchObject({ __typename: 'ValidationError', code: 'VALIDATION', field });
  expect(answer.message).toContain(field);
  expect(vendorCalls()).toBe(before);
}

describe('caller URLs', () => {
  const badPages = [
    'file:///etc/passwd',
    'javascript:alert(1)',
    'http://169.254.169.254/latest/meta-data/',
    'https://127.0.0.1/',
    'https://2130706433/',
    'https://0x7f.1/',
    'https://localhost:8080/',
    'https://app.localhost/',
    'https://10.1.2.3/layout',
    'https://192.168.0.10/',
    'https://172.20.0.1/',
    'https://[::1]/',
    'https://[fe80::1]/',
    'https://[fd00::1]/',
    'https://[::ffff:127.0.0.1]/',
    `https://layouts.example.com/${'a'.repeat(2100)}`,
  ];

  it('refuses a meetingUrl that is not https, or points at this machine or a private network', async () => {
    for (const meetingUrl of badPages) {
      await refused(START_LIVESTREAM, { provider: 'LIVEKIT', roomId: 'urls', meetingUrl }, 'meetingUrl');
      await refused(START_RECORDING, { provider: 'HMS', roomId: 'urls', meetingUrl }, 'meetingUrl');
    }
    // A 900 KB one is refused too, and nothing is stored.
    await refused(
      START_LIVESTREAM,
      { provider: 'HMS', roomId: 'urls', meetingUrl: `https://x.test/${'a'.repeat(900_000)}` },
      'meetingUrl',
    );
    const stored = await gql(server.url, '{ livestreams(roomId: "urls") { edges { node { id } } } }');
    expect(stored.data?.livestreams.edges).toEqual([]);
  });

  it('refuses the same in a room automation rule', async () => {
    await refused(
      SET_AUTOMATION,
      { provider: 'HMS', roomId: 'auto', recordOn: 'SESSION_START', meetingUrl: 'http://169.254.169.254/' },
      'meetingUrl',
    );
  });

  it('refuses a destination that is not rtmp(s), or whose host is private', async () => {
    for (const destination of [
      'rtmp://10.0.0.5:1935/live/key',
      'rtmps://127.0.0.1/live/key',
      'rtmp://0x7f000001/live/key',
      'rtmp://[::1]/live/key',
      'file:///etc/passwd',
      'http://169.254.169.254/',
    ]) {
      await refused(START_LIVESTREAM, { provider: 'LIVEKIT', roomId: 'dest', destination }, 'destination');
    }
  });

  it('takes public https pages, rtmp destinations and 100ms destination names', async () => {
    const page = await gql(server.url, START_LIVESTREAM, {
      input: {
        provider: 'LIVEKIT',
        roomId: 'ok-1',
        meetingUrl: 'https://layouts.example.com/grid',
        destination: 'rtmp://live.example.com/app/key',
      },
    });
    expect(page.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    const named = await gql(server.url, START_LIVESTREAM, {
      input: { provider: 'HMS', roomId: 'ok-2', destination: 'youtube-main' },
    });
    expect(named.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
  });

  it('takes http outside production, and private hosts when ALLOW_PRIVATE_URLS is set', async () => {
    const open = await startServer(env({ ALLOW_PRIVATE_URLS: 'true' }));
    try {
      const result = await gql(open.url, START_LIVESTREAM, {
        input: {
          provider: 'LIVEKIT',
          roomId: 'lab',
          meetingUrl: 'http://10.0.0.7/layout',
          destination: 'rtmp://10.0.0.5:1935/live/key',
        },
      });
      expect(result.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    } finally {
      await open.cleanup();
    }
  });
});

describe('vendor ids', () => {
  const badIds = [
    '.',
    '..',
    ' .. ',
    'a/b',
    '../go_live',
    'a\\b',
    'room\u0000x',
    'room\nx',
    'room\u202ex',
    'ro\u200bom',
    'ro\ufeffom',
    'r'.repeat(300),
  ];

  it('refuses a roomId that would change the vendor URL path or hides characters, before any vendor call', async () => {
    for (const roomId of badIds) {
      await refused(START_LIVESTREAM, { provider: 'HMS', roomId }, 'roomId');
      await refused(START_RECORDING, { provider: 'LIVEKIT', roomId }, 'roomId');
      await refused(SET_AUTOMATION, { provider: 'HMS', roomId, recordOn: 'SESSION_START' }, 'roomId');
    }
  });
});
