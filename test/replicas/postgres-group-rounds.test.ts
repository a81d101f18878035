import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../../src/store/postgres/store.js';
import { createTestDatabase, POSTGRES_ADMIN_URL, type TestDatabase, viaPort } from '../support/postgres.js';
import { type SlowProxy, startSlowProxy } from '../support/slow-proxy.js';
import { delivery, openStore, streamRow, writeNextVersion } from './stores.js';

/**
 * A PostgreSQL group commit's round trips and socket writes (src/store/postgres/group.ts,
 * pipeline.ts): BEGIN and the change-log lock leave with the members' first batched reads. What a
 * caller observes through a proxy that delays PostgreSQL's answers: a group of webhook-like members
 * costs one socket write per round trip.
 */

const DELAY_MS = 40;

let database: TestDatabase;
let proxy: SlowProxy;
/** Through the slow proxy. */
let slow: PostgresStore;
/** Straight to the database. */
let direct: PostgresStore;

beforeAll(async () => {
  database = await createTestDatabase();
  const admin = new URL(POSTGRES_ADMIN_URL);
  proxy = await startSlowProxy({ host: admin.hostname, port: Number(admin.port || 5432) }, DELAY_MS);
  slow = openStore(viaPort(database.url, proxy.port));
  direct = openStore(database.url);
  await Promise.all([slow.open(), direct.open()]);
});

afterAll(async () => {
  await slow?.close();
  await direct?.close();
  await proxy?.close();
  await database?.drop();
});

/**
 * A webhook delivery as the intake records it: the delivery with its stream, the vendor event id
 * checked, then the change, published after commit. Answers the version made (0: nothing changed).
 */
async function deliver(
  store: PostgresStore,
  deliveryId: string,
  streamId: string,
  eventId: string | null = null,
  published: number[] = [],
): Promise<number> {
  const recorded = await store.deliveries.recordFinding(delivery(deliveryId), {
    kind: 'livestream',
    provider: 'SANDBOX',
    externalId: `ext-${streamId}`,
  });
  if (!recorded.inserted) return 0;
  if (!recorded.stream) throw new Error(`no stream ${streamId} found`);
  if (eventId && (await store.history.has('livestream', streamId, eventId))) return 0;
  const { version, position } = await writeNextVersion(store, 'livestream', recorded.stream, eventId);
  store.afterCommit(() => published.push(position));
  return version;
}

async function streams(prefix: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (const id of ids) await direct.streams.insert('livestream', streamRow(id));
  return ids;
}

describe('PostgreSQL group commit, round trips', () => {
  it("sends a group's BEGIN and lock with its reads: one write per round trip for ten members", async () => {
    // Warm: the group's connection open, its statements prepared.
    const warm = await streams('warm', 10);
    await Promise.all(warm.map((id, i) => slow.groupTransaction(() => deliver(slow, `warm-d${i}`, id))));
    const ids = await streams('rounds', 10);
    const published: number[] = [];
    proxy.reset();
    const versions = await Promise.all(
      ids.map((id, i) => slow.groupTransaction(() => deliver(slow, `rounds-d${i}`, id, null, published))),
    );
    const { flights, writes } = proxy;
    expect(versions).toEqual(ids.map(() => 2));
    // BEGIN, the lock and the reads; the changes; COMMIT: each in one socket write (BEGIN and the
    // lock used to leave before the reads, four writes).
    expect(flights).toBe(3);
    expect(writes).toBe(3);
    // Acknowledged once durable: each stream's row and its one history row, at the position published.
    const rows = await direct.streams.getMany('livestream', ids);
    expect(rows.map((row) => row.version)).toEqual(ids.map(() => 2));
    expect(rows.map((row) => row.changePosition).sort((a, b) => a - b)).toEqual(published);
    const history = await direct.history.listFor('livestream', ids, 10);
    expect(history.map((event) => `${event.streamId}:${event.version}`).sort()).toEqual(ids.map((id) => `${id}:2`));
    expect(published).toEqual([...published].sort((a, b) => a - b));
  });
});
