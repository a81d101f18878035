import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type DyteFake, startDyteFake } from '../fakes/dyte.js';
import { gql, START_LIVESTREAM, startServer, storedRows, type TestServer, tempDir, waitFor } from '../helpers.js';

/**
 * Issue 10 item 4: deliveries for streams this service does not manage (a vendor sends events for
 * every meeting of the account) must neither grow forever nor hide the genuine early delivery of
 * a stream that is being started. Dyte's livestream webhooks name no meeting, so one that beats
 * the start's answer waits for the stream's vendor id. Real signed deliveries over HTTP.
 */

let fake: DyteFake;
let server: TestServer;

afterEach(async () => {
  await server?.cleanup();
  await fake?.close();
  fake = undefined as unknown as DyteFake;
});

async function boot(env: Record<string, string> = {}, dir?: string) {
  fake ??= await startDyteFake();
  server = await startServer({ ...fake.webhookEnv, POLL_INTERVAL_MS: '3600000', ...env }, { dir });
}
const hook = () => `http://127.0.0.1:${server.port}/webhooks/dyte`;

/** Signed deliveries about livestreams of meetings this service never started. */
async function strangers(count: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < count) {
        next++;
        const stranger = fake.addLivestream(`stranger-${crypto.randomUUID()}`, 'LIVE');
        const answer = await fake.sendWebhook(hook(), fake.livestreamWebhook(stranger.id));
        expect(answer.status).toBe(200);
        expect(answer.body.pending).toBe(true);
      }
    }),
  );
}

function pendingRows(): Promise<{ payload: string; processed_at: number | null }[]> {
  return storedRows(server.dbPath, 'select payload, processed_at from webhook_deliveries order by id');
}

describe('pending webhook deliveries', () => {
  it('applies a genuine early delivery behind 600 waiting ones for streams it does not manage', async () => {
    await boot();
    await strangers(600);

    const roomId = `meeting-${crypto.randomUUID().slice(0, 8)}`;
    const gate = fake.holdNextStart();
    const starting = gql(server.url, START_LIVESTREAM, { input: { provider: 'DYTE', roomId } });
    const vendorId = await gate.created;
    fake.setLivestreamStatus(vendorId, 'LIVE');
    const early = await fake.sendWebhook(hook(), fake.livestreamWebhook(vendorId));
    expect(early.body.pending).toBe(true);
    // Waiting, it keeps its raw body (needed to apply it later).
    expect((await pendingRows()).at(-1)).toMatchObject({ processed_at: null });
    expect((await pendingRows()).at(-1)?.payload).toContain(vendorId);
    gate.release();
    const id = (await starting).data?.startLivestream.livestream.id as string;

    const live = await waitFor(async () => {
      const { data } = await gql(server.url, 'query($id: ID!) { livestream(id: $id) { status } }', { id });
      return data?.livestream.status === 'LIVE' ? data.livestream : null;
    }, 10_000);
    expect(live).toEqual({ status: 'LIVE' });
    // Applied: its body is dropped, its ids stay (for de-duplication).
    await waitFor(async () => (await pendingRows()).at(-1)?.processed_at != null || null, 5000);
    expect((await pendingRows()).at(-1)?.payload).toBe('');
    expect((await fake.sendWebhook(hook(), fake.livestreamWebhook(vendorId), { uuid: early.uuid })).body).toMatchObject(
      {
        duplicate: true,
      },
    );
  });

  it('gives up on the oldest beyond WEBHOOK_PENDING_MAX, dropping their bodies', async () => {
    await boot({ WEBHOOK_PENDING_MAX: '50' });
    await strangers(80);
    const rows = await pendingRows();
    expect(rows).toHaveLength(80);
    const waiting = rows.filter((row) => row.processed_at === null);
    expect(waiting.length).toBeLessThanOrEqual(50);
    const given = rows.filter((row) => row.processed_at !== null);
    expect(given.length).toBeGreaterThanOrEqual(30);
    expect(given.every((row) => row.payload === '')).toBe(true);
    // Their ids stay: a redelivery is still a duplicate, and still stores nothing.
    expect(waiting.every((row) => row.payload.includes('livestreaming.statusUpdate'))).toBe(true);
  });

  it('shares its expiries among deliveries left waiting over the limit at once, and still holds the limit', async () => {
    await boot({ WEBHOOK_PENDING_MAX: '20' });
    await strangers(20);
    const expiries: string[] = [];
    const stop = server.app.services.store.onStatement((sql) => {
      // The expiry: the only statement giving up waiting deliveries by provider.
      if (/^(with|update)\b/.test(sql) && /processed_at is null/.test(sql)) expiries.push(sql);
    });
    // Forty at once, each left waiting over the limit: each used to run an expiry of its own.
    const answers = await Promise.all(
      Array.from({ length: 40 }, () =>
        fake.sendWebhook(
          hook(),
          fake.livestreamWebhook(fake.addLivestream(`stranger-${crypto.randomUUID()}`, 'LIVE').id),
        ),
      ),
    );
    stop();
    expect(answers.map((answer) => answer.status)).toEqual(Array.from({ length: 40 }, () => 200));
    // One each before; how many share one depends on how the forty interleave (on PostgreSQL, where
    // an expiry is a round trip and a commit, most do).
    expect(expiries.length).toBeGreaterThan(0);
    expect(expiries.length).toBeLessThan(40);
    // Answered only once an expiry that started after it was recorded had run: the limit holds.
    const rows = await pendingRows();
    expect(rows.filter((row) => row.processed_at === null)).toHaveLength(20);
    expect(rows.filter((row) => row.payload === '')).toHaveLength(40);
  });

  it('refuses a delivery id over 256 characters or an event type over 128, storing nothing', async () => {
    await boot();
    const stranger = fake.addLivestream(`stranger-${crypto.randomUUID()}`, 'LIVE');
    const longId = await fake.sendWebhook(hook(), fake.livestreamWebhook(stranger.id), { uuid: 'd'.repeat(300) });
    expect(longId.status).toBe(400);
    const longType = await fake.sendWebhook(hook(), { event: `meeting.${'x'.repeat(200)}`, meeting: { id: 'm' } });
    expect(longType.status).toBe(400);
    expect(await pendingRows()).toEqual([]);
  });

  it('gives up at boot on what waits beyond a lowered WEBHOOK_PENDING_MAX', async () => {
    const dir = tempDir();
    await boot({}, dir);
    await strangers(30);
    expect((await pendingRows()).filter((row) => row.processed_at === null)).toHaveLength(30);
    await server.stop();
    await boot({ WEBHOOK_PENDING_MAX: '10' }, dir);
    await waitFor(
      async () => (await pendingRows()).filter((row) => row.processed_at === null).length === 10 || null,
      5000,
    );
    expect((await pendingRows()).filter((row) => row.payload === '')).toHaveLength(20);
    rmSync(dir, { recursive: true, force: true });
  });
});
