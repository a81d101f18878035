import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeHms } from '../fakes/hms.js';
import { gql, START_LIVESTREAM, startServer, storedRows, type TestServer } from '../helpers.js';
import { age, ageDeliveries, storedHistory } from './support.js';

/**
 * Issue 16 item 1, as 100ms delivers it: an applied delivery keeps its ids and no body; history
 * keeps the payload without the participants' personal data; deliveries older than
 * RETENTION_DAYS go, ids and all.
 */

const ACCESS_KEY = 'hms-retention-access-key';
const APP_SECRET = 'hms-retention-app-secret-00000000';
const WEBHOOK_SECRET = 'hms-retention-custom-header-value';
const MEETING_URL = 'https://acme.app.100ms.live/preview/room/__internal_recorder?skip_preview=true';
/** What 100ms and the customer's app put in a payload about people (vendors.md). */
const PERSONAL = {
  user_name: 'Ada Lovelace',
  user_id: 'customer-user-1815',
  user_data: '{"plan":"gold"}',
  started_by: 'host-peer-of-ada',
  peer: { id: 'peer-1', name: 'Charles Babbage', role: 'host' },
  note: 'reach me at ada@example.org',
};

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

function deliveries() {
  return storedRows<{ delivery_id: string; payload: string; processed_at: number | null }>(
    server.dbPath,
    'select delivery_id, payload, processed_at from webhook_deliveries order by id',
  );
}

describe('webhook deliveries and personal data', () => {
  it('keeps ids without bodies, history without personal data, and prunes old deliveries', async () => {
    const started = await gql(server.url, START_LIVESTREAM, {
      input: { provider: 'HMS', roomId: 'retention-room', meetingUrl: MEETING_URL },
    });
    const livestream = started.data?.startLivestream.livestream as { id: string; externalId: string } | undefined;
    if (!livestream) throw new Error(`start failed: ${JSON.stringify(started)}`);
    const { id, externalId } = livestream;
    fake.setStatus(externalId, 'running');
    const live = await fake.sendWebhook('hls.started.success', fake.webhookData(externalId, PERSONAL));
    expect(live.body).toMatchObject({ ok: true, pending: false });
    const joined = await fake.sendWebhook('peer.join.success', {
      room_id: 'retention-room',
      session_id: 'session-1',
      peer_id: 'peer-1',
      role: 'host',
      user_name: 'Charles Babbage',
    });
    expect(joined.status).toBe(200);

    // Applied: ids kept, bodies gone.
    expect(await deliveries()).toEqual([
      { delivery_id: live.id, payload: '', processed_at: expect.any(Number) },
      { delivery_id: joined.id, payload: '', processed_at: expect.any(Number) },
    ]);
    // A redelivery is still a duplicate.
    expect((await fake.sendWebhook('hls.started.success', fake.webhookData(externalId), { id: live.id })).body).toEqual(
      {
        ok: true,
        duplicate: true,
      },
    );

    // History keeps what happened, not who.
    const stored = (await storedHistory(server.dbPath, id)).map((row) => row.payload ?? '').join('\n');
    expect(stored).toContain('hls.started.success');
    expect(stored).toContain('retention-room');
    for (const value of ['Ada Lovelace', 'customer-user-1815', 'gold', 'host-peer-of-ada', 'Charles Babbage']) {
      expect(stored).not.toContain(value);
    }
    expect(stored).not.toContain('ada@example.org');
    expect(stored).toContain('reach me at [redacted]');

    // 100 days later, a newer delivery beside them: the old ones go, ids and all.
    await ageDeliveries(server.dbPath, 100);
    await age(server.dbPath, 'livestream', [id], 100);
    const fresh = await fake.sendWebhook('peer.leave.success', {
      room_id: 'retention-room',
      session_id: 'session-1',
      peer_id: 'peer-1',
      role: 'host',
    });
    expect(fresh.status).toBe(200);
    const report = await server.app.retention.run();
    expect(report.deliveries).toBe(2);
    expect((await deliveries()).map((row) => row.delivery_id)).toEqual([fresh.id]);
    // The stream is not final: its history is kept whole.
    expect(report.historyRows).toBe(0);
    expect((await gql(server.url, 'query($id: ID!) { livestream(id: $id) { status } }', { id })).data).toEqual({
      livestream: { status: 'LIVE' },
    });
  });
});
