import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamRecord } from '../../src/domain/types.js';
import type { PostgresStore } from '../../src/store/postgres/store.js';
import { waitFor } from '../helpers.js';
import { delivery, streamRow, type TwoReplicas, twoReplicas, writeNextVersion } from './stores.js';

/**
 * A PostgreSQL group commit's members batched (src/store/postgres/batch.ts): the members' delivery
 * inserts and stream reads issued together are one statement, their changes another. What a
 * caller observes: every member acknowledged with its own outcome (a duplicate delivery within
 * the batch recorded once), and a member whose stream row another transaction holds fails alone,
 * runs again by itself once the row is free, and nothing of the failed attempt is kept.
 */

let replicas: TwoReplicas;
let one: PostgresStore;
let two: PostgresStore;

beforeAll(async () => {
  replicas = await twoReplicas();
  ({ one, two } = replicas);
});

afterAll(() => replicas?.close());

/** The stream each delivery found, by stream id. */
const found = new Map<string, StreamRecord>();

/**
 * A webhook delivery as the intake records it: the delivery with its stream, then the change.
 * Answers the version made (0: a duplicate).
 */
async function deliver(store: PostgresStore, deliveryId: string, streamId: string): Promise<number> {
  const recorded = await store.deliveries.recordFinding(delivery(deliveryId), {
    kind: 'livestream',
    provider: 'SANDBOX',
    externalId: `ext-${streamId}`,
  });
  if (!recorded.inserted) return 0;
  if (!recorded.stream) throw new Error(`no stream ${streamId} found`);
  found.set(streamId, recorded.stream);
  return (await writeNextVersion(store, 'livestream', recorded.stream)).version;
}

/** The delivery ids recorded, read through the other replica's pool. */
async function recorded(prefix: string): Promise<string[]> {
  const { rows } = await two.pool.query<{ id: string }>(
    'select delivery_id as id from webhook_deliveries where delivery_id like $1 order by delivery_id',
    [`${prefix}%`],
  );
  return rows.map((row) => row.id);
}

describe('PostgreSQL group commit, batched statements', () => {
  it("reads a group's members in one statement and changes them in another, each answered its own outcome", async () => {
    const ids = Array.from({ length: 10 }, (_, i) => `batch-${i}`);
    for (const id of ids) await one.streams.insert('livestream', streamRow(id));
    const before = await two.streams.get('livestream', 'batch-0');
    const statements: string[] = [];
    const stop = one.onStatement((sql) => statements.push(sql));
    let results: number[];
    try {
      results = await Promise.all([
        ...ids.map((id, i) => one.groupTransaction(() => deliver(one, `batch-d${i}`, id))),
        // The same delivery again, in the same batch: recorded once, the later one a duplicate.
        one.groupTransaction(() => deliver(one, 'batch-d0', 'batch-0')),
      ]);
    } finally {
      stop();
    }
    expect(results).toEqual([...ids.map(() => 2), 0]);
    // The stream as the batched read answered it: the record a read by id answers.
    expect(found.get('batch-0')).toEqual(before);
    const own = statements.filter((sql) => !/^(begin|commit|select pg_advisory_xact_lock)/.test(sql));
    // One statement for the eleven reads, one for the ten changes (twenty-one without batching).
    expect(own).toHaveLength(2);
    expect((await two.streams.getMany('livestream', ids)).map((row) => row.version)).toEqual(ids.map(() => 2));
    expect(await recorded('batch-d')).toEqual(ids.map((_, i) => `batch-d${i}`).sort());
  });

  it('fails only the member whose row another transaction holds; it runs alone once free, nothing of the attempt kept', async () => {
    const ids = Array.from({ length: 8 }, (_, i) => `held-${i}`);
    for (const id of ids) await one.streams.insert('livestream', streamRow(id));
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked = () => {};
    const taken = new Promise<void>((resolve) => {
      locked = resolve;
    });
    // Another replica's writer holds held-3's row (FOR UPDATE) in a transaction of its own.
    const holder = two.transaction(async () => {
      await two.streams.get('livestream', 'held-3');
      locked();
      await released;
    });
    await taken;
    const members = ids.map((id, i) => one.groupTransaction(() => deliver(one, `held-d${i}`, id)));
    try {
      // The group failed on held-3 alone: it now waits for the row by itself (as any transaction
      // would), and nothing of the group's attempt was kept.
      await waitFor(async () => (await rowWaits()) === 1);
      expect(await recorded('held-d')).toEqual([]);
    } finally {
      release();
    }
    await holder;
    expect(await Promise.all(members)).toEqual(ids.map(() => 2));
    expect(await recorded('held-d')).toEqual(ids.map((_, i) => `held-d${i}`));
    const history = await two.history.listFor('livestream', ids, 10);
    expect(history.map((event) => `${event.streamId}:${event.version}`).sort()).toEqual(ids.map((id) => `${id}:2`));
  });
});

/** Connections of this database waiting for a row lock (PostgreSQL's own view). */
async function rowWaits(): Promise<number> {
  const { rows } = await two.pool.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity
     where datname = current_database() and wait_event_type = 'Lock' and wait_event in ('transactionid', 'tuple')`,
  );
  return rows[0]?.n ?? 0;
}
