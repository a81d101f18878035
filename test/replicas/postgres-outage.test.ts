import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeHms } from '../fakes/hms.js';
import { collect, gql, START_LIVESTREAM, startServer, type TestServer, waitFor, wsClient } from '../helpers.js';
import { createTestDatabase, type TestDatabase, viaPort } from '../support/postgres.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

/**
 * PostgreSQL cut off from a running service (through a TCP proxy the test owns), then given back:
 * nothing is acknowledged that is not durable, every caller is told `UNAVAILABLE` (a webhook 503
 * with Retry-After, so the vendor resends), /readyz says not ready, and the service recovers with
 * no restart once the database answers again.
 */

const WEBHOOK_SECRET = 'outage-webhook-secret';
const READ = '{ livestreams(first: 5) { edges { node { id status } } } }';

let database: TestDatabase;
let proxy: TcpProxy;
let fake: FakeHms;
let server: TestServer;

beforeAll(async () => {
  database = await createTestDatabase();
  proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
  fake = await FakeHms.start({ accessKey: 'outage-access-key', appSecret: 'outage-app-secret-000000000000' });
  server = await startServer({
    DATABASE_URL: viaPort(database.url, proxy.port),
    DATABASE_CONNECT_TIMEOUT_MS: '1000',
    HMS_ACCESS_KEY: 'outage-access-key',
    HMS_APP_SECRET: 'outage-app-secret-000000000000',
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
  await proxy?.restore();
  await server?.cleanup();
  await fake?.close();
  await proxy?.close();
  await database?.drop();
});

const readyz = async () => (await fetch(`http://127.0.0.1:${server.port}/readyz`)).status;

async function startHls(roomId: string) {
  return gql(server.url, START_LIVESTREAM, {
    input: { provider: 'HMS', roomId, meetingUrl: 'https://acme.app.100ms.live/preview/room/x' },
  });
}

describe('PostgreSQL unreachable', () => {
  it('answers UNAVAILABLE, 503 to webhooks and /readyz, and recovers without a restart', async () => {
    const started = await startHls('outage-room');
    const livestream = started.data?.startLivestream.livestream as { id: string; externalId: string };
    expect(livestream.externalId).toBeTruthy();
    expect(await readyz()).toBe(200);
    const client = wsClient(server.wsUrl);

    await proxy.cut();

    expect(await readyz()).toBe(503);
    const read = await gql(server.url, READ);
    expect(read.data ?? null).toBeNull();
    expect(read.errors).toMatchObject([{ extensions: { code: 'UNAVAILABLE' } }]);
    const callsBefore = fake.requests.length;
    const start = await startHls('outage-other-room');
    expect(start.errors).toMatchObject([{ extensions: { code: 'UNAVAILABLE' } }]);
    // Nothing reached the vendor for a start that could not be recorded.
    expect(fake.requests.length).toBe(callsBefore);
    const watch = collect(client, 'subscription W($id: ID!) { livestreamChanged(id: $id) { id status } }', {
      id: livestream.id,
    });
    await watch.completed;
    expect(watch.errors.flat()).toMatchObject([{ extensions: { code: 'UNAVAILABLE' } }]);

    // A delivery that cannot be made durable is refused: the vendor sends it again later.
    const refused = await fetch(fake.webhookTarget?.url ?? '', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hms-webhook-secret': WEBHOOK_SECRET },
      body: JSON.stringify({
        version: '2.0',
        id: 'delivery-during-outage',
        app_id: fake.appId,
        account_id: fake.accountId,
        timestamp: new Date().toISOString(),
        type: 'hls.started.success',
        data: { app_id: fake.appId, ...fake.webhookData(livestream.externalId) },
      }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);

    await proxy.restore();

    await waitFor(async () => (await readyz()) === 200);
    const again = await gql(server.url, READ);
    expect(again.errors).toBeUndefined();
    expect(again.data?.livestreams.edges).toHaveLength(1);
    // The vendor's retry of the refused delivery is applied now.
    const retried = await fake.sendWebhook('hls.started.success', fake.webhookData(livestream.externalId), {
      id: 'delivery-during-outage',
    });
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ ok: true });
    const after = await startHls('outage-other-room');
    expect(after.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    await client.dispose();
  });
});
