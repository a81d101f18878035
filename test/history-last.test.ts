import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeHms } from './fakes/hms.js';
import { gql, START_LIVESTREAM, startServer, type TestServer } from './helpers.js';

/**
 * Issue 10 item 8: `history(last: Int = 100)` answers the latest events, oldest first, at most
 * 1000; a `last` outside 0..1000 is a VALIDATION error. Real 100ms webhooks make the history long.
 */

const ACCESS_KEY = 'hms-access-key-history-last';
const APP_SECRET = 'hms-app-secret-history-last-0123';
const WEBHOOK_SECRET = 'hms-webhook-secret-history-last';

let fake: FakeHms;
let server: TestServer;
let livestreamId: string;
/** How many events the stream's history holds in all. */
let total = 0;

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
  const started = await gql(server.url, START_LIVESTREAM, { input: { provider: 'HMS', roomId: 'long-history' } });
  const livestream = started.data?.startLivestream.livestream;
  livestreamId = livestream.id;
  expect((await fake.sendWebhook('hls.started.success', fake.webhookData(livestream.externalId))).status).toBe(200);
  expect((await fake.sendWebhook('hls.stopped.success', fake.webhookData(livestream.externalId))).status).toBe(200);
  // 130 late starts after the stop: each is kept in history as refused.
  for (let i = 0; i < 130; i++) {
    expect((await fake.sendWebhook('hls.started.success', fake.webhookData(livestream.externalId))).status).toBe(200);
  }
  total = 134; // created, the start's answer, LIVE, STOPPED, and the 130 refused
});
afterAll(async () => {
  await server?.cleanup();
  await fake?.close();
});

type Event = { status: string; version: number; applied: boolean; at: string };

async function history(args: string) {
  return gql<{ livestream: { history: Event[] } }>(
    server.url,
    `query($id: ID!) { livestream(id: $id) { history${args} { status version applied at } } }`,
    { id: livestreamId },
  );
}

describe('history(last:)', () => {
  it('answers the latest 100 by default, oldest first', async () => {
    const all = (await history('(last: 1000)')).data?.livestream.history ?? [];
    expect(all).toHaveLength(total);
    expect(all[0]).toMatchObject({ status: 'STARTING', version: 1, applied: true });
    const latest = (await history('')).data?.livestream.history ?? [];
    expect(latest).toHaveLength(100);
    expect(latest).toEqual(all.slice(-100));
    expect(latest.at(-1)).toMatchObject({ status: 'LIVE', applied: false });
  });

  it('answers exactly `last` of them, and none for 0', async () => {
    const all = (await history('(last: 1000)')).data?.livestream.history ?? [];
    expect((await history('(last: 3)')).data?.livestream.history).toEqual(all.slice(-3));
    expect((await history('(last: 0)')).data?.livestream.history).toEqual([]);
  });

  it('refuses a negative last, or one over 1000, as a VALIDATION error', async () => {
    for (const last of [-1, 1001]) {
      const result = await history(`(last: ${last})`);
      expect(result.errors?.[0]).toMatchObject({ extensions: { code: 'VALIDATION' } });
      expect(result.errors?.[0]?.message).toContain('last');
    }
  });
});
