import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProviderId } from '../src/domain/status.js';
import type { Store } from '../src/store/types.js';
import { openTestStore, storedRows, tempDir, testDatabaseUrl } from './helpers.js';

/**
 * Deliveries waiting for a stream that has not appeared are given up beyond WEBHOOK_PENDING_MAX per
 * vendor, the oldest first, and once older than WEBHOOK_PENDING_MAX_AGE_MS (the store's
 * `expirePending`, asked after each delivery left waiting once over the limit). On every engine:
 * exactly the newest `keep` by receipt (then by id, for deliveries received in the same
 * millisecond) stay waiting, with their bodies; the others lose theirs, and nothing of another
 * vendor or of a delivery already done is touched.
 */

let store: Store | undefined;
let dir: string | undefined;
afterEach(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const BASE = Date.parse('2026-12-01T00:00:00Z');
const AT = new Date(BASE + 3_600_000);

async function open(): Promise<{ s: Store; url: string }> {
  dir = tempDir();
  store = await openTestStore(dir, 'pending.sqlite');
  return { s: store, url: await testDatabaseUrl(dir, 'pending.sqlite') };
}

/** Records a delivery of `provider` received `offset` ms after BASE and leaves it waiting; answers its id. */
async function waiting(s: Store, provider: ProviderId, name: string, offset: number): Promise<number> {
  const receivedAt = new Date(BASE + offset);
  const recorded = await s.deliveries.record({
    provider,
    deliveryId: name,
    contentKey: null,
    eventType: 'hls.started.success',
    receivedAt,
    processedAt: receivedAt,
  });
  expect(recorded.inserted).toBe(true);
  await s.deliveries.markPending(recorded.id, `{"body":"${name}"}`, `livestream:ext:${name}`);
  return recorded.id;
}

async function stillWaiting(s: Store, provider: ProviderId): Promise<string[]> {
  const rows = await s.deliveries.pending(provider, new Date(0), 1000);
  return rows.map((row) => row.deliveryId).sort();
}

interface Row {
  delivery_id: string;
  payload: string;
  correlation_key: string | null;
}

async function givenUp(url: string): Promise<Row[]> {
  const rows = await storedRows<Row>(
    url,
    'select delivery_id, payload, correlation_key from webhook_deliveries where processed_at is not null order by delivery_id',
  );
  return rows.filter((row) => row.delivery_id.startsWith('w'));
}

describe("giving up on waiting webhook deliveries (the store's expirePending)", () => {
  it('keeps exactly the newest `keep` by receipt, then by id within one millisecond', async () => {
    const { s, url } = await open();
    // Received out of id order, four of them in the same millisecond (3), which the cut falls in.
    const offsets = [5, 1, 3, 3, 3, 9, 7, 3, 8, 2];
    for (const [i, offset] of offsets.entries()) await waiting(s, 'HMS', `w${i}`, offset);
    // Another vendor's waiting deliveries, older than all of them, and one delivery done.
    for (let i = 0; i < 3; i++) await waiting(s, 'DYTE', `dyte-${i}`, 0);
    const done = await s.deliveries.record({
      provider: 'HMS',
      deliveryId: 'applied',
      contentKey: null,
      eventType: 'hls.started.success',
      receivedAt: new Date(BASE),
      processedAt: new Date(BASE),
    });
    expect(done.inserted).toBe(true);

    // Newest first: w5 (9), w8 (8), w6 (7), w0 (5), then at 3 by id descending: w7, w4, w3, w2.
    expect(await s.deliveries.expirePending('HMS', new Date(BASE - 1000), 5, AT)).toBe(5);
    expect(await stillWaiting(s, 'HMS')).toEqual(['w0', 'w5', 'w6', 'w7', 'w8']);
    expect(await givenUp(url)).toEqual(
      ['w1', 'w2', 'w3', 'w4', 'w9'].map((id) => ({ delivery_id: id, payload: '', correlation_key: null })),
    );
    expect(await stillWaiting(s, 'DYTE')).toEqual(['dyte-0', 'dyte-1', 'dyte-2']);
    const kept = await storedRows<Row>(url, "select payload from webhook_deliveries where delivery_id = 'w7'");
    expect(kept).toEqual([{ payload: '{"body":"w7"}' }]);

    // At the limit nothing more goes; one over it, the oldest.
    expect(await s.deliveries.expirePending('HMS', new Date(BASE - 1000), 5, AT)).toBe(0);
    await waiting(s, 'HMS', 'w10', 4);
    expect(await s.deliveries.expirePending('HMS', new Date(BASE - 1000), 5, AT)).toBe(1);
    expect(await stillWaiting(s, 'HMS')).toEqual(['w0', 'w10', 'w5', 'w6', 'w8']);
  });

  it('gives up every one received before the age limit, and the oldest beyond `keep` with them', async () => {
    const { s } = await open();
    for (const [i, offset] of [10, 20, 30, 40, 50, 60].entries()) await waiting(s, 'HMS', `w${i}`, offset);

    // Fewer waiting than `keep`: only the age limit (received before BASE + 25: w0, w1).
    expect(await s.deliveries.expirePending('HMS', new Date(BASE + 25), 100, AT)).toBe(2);
    expect(await stillWaiting(s, 'HMS')).toEqual(['w2', 'w3', 'w4', 'w5']);
    // Received exactly at the limit is not before it.
    expect(await s.deliveries.expirePending('HMS', new Date(BASE + 30), 100, AT)).toBe(0);
    // Both at once: w2 by age, w3 by count (the newest two kept).
    expect(await s.deliveries.expirePending('HMS', new Date(BASE + 31), 2, AT)).toBe(2);
    expect(await stillWaiting(s, 'HMS')).toEqual(['w4', 'w5']);
    // `keep` 0 gives up all.
    expect(await s.deliveries.expirePending('HMS', new Date(BASE), 0, AT)).toBe(2);
    expect(await stillWaiting(s, 'HMS')).toEqual([]);
  });
});
