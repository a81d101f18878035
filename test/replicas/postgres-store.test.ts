import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../../src/store/postgres/store.js';
import { STREAM_AT, streamRow, type TwoReplicas, twoReplicas } from './stores.js';

/**
 * The PostgreSQL store as two replicas use it: two stores (two pools) on one database. What the
 * whole suite checks through the service on either store is not repeated here; these are the
 * cases only several connections can produce.
 */

let replicas: TwoReplicas;
let one: PostgresStore;
let two: PostgresStore;
const stream = streamRow;
const at = STREAM_AT;

beforeAll(async () => {
  replicas = await twoReplicas();
  ({ one, two } = replicas);
});

afterAll(() => replicas?.close());

describe('PostgresStore across replicas', () => {
  it('never lets two replicas claim the same stream for polling', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `poll-${i}`);
    for (const id of ids) await one.streams.insert('livestream', stream(id));
    const now = new Date(at.getTime() + 1);
    const claim = (store: PostgresStore, owner: string) =>
      store.polls.claimDue('livestream', { owner, now, leaseUntil: new Date(now.getTime() + 60_000), limit: 15 });
    const rounds = await Promise.all([claim(one, 'a'), claim(two, 'b'), claim(one, 'c'), claim(two, 'd')]);
    const claimed = rounds.flat().map((c) => c.id);
    expect(new Set(claimed).size).toBe(claimed.length);
    expect(claimed.length).toBe(ids.length);
    // Held leases are not claimed again until they expire.
    expect(await claim(two, 'e')).toEqual([]);
    const later = new Date(now.getTime() + 61_000);
    const taken = await two.polls.claimDue('livestream', {
      owner: 'e',
      now: later,
      leaseUntil: new Date(later.getTime() + 60_000),
      limit: 100,
    });
    expect(taken).toHaveLength(ids.length);
  });

  it('answers listActive with another replica’s commit at once (no cache to go stale)', async () => {
    await one.streams.insert('recording', { ...stream('rec-1'), status: 'RECORDING' });
    expect((await two.streams.listActive('recording', {})).map((r) => r.id)).toEqual(['rec-1']);
    await one.streams.update('recording', 'rec-1', { status: 'STOPPED' });
    expect(await two.streams.listActive('recording', {})).toEqual([]);
  });

  it('runs again a transaction PostgreSQL picked as a deadlock victim, keeping both writes', async () => {
    await one.streams.insert('livestream', stream('dead-a'));
    await one.streams.insert('livestream', stream('dead-b'));
    let runs = 0;
    let bothLocked!: () => void;
    const locked = new Promise<void>((resolve) => {
      let n = 0;
      bothLocked = () => {
        if (++n === 2) resolve();
      };
    });
    // Each locks one row (a read inside a transaction), then asks for the other's.
    const crossing = (store: PostgresStore, first: string, second: string, version: number) =>
      store.transaction(async () => {
        runs++;
        await store.streams.get('livestream', first);
        bothLocked();
        await locked;
        await store.streams.get('livestream', second);
        await store.streams.update('livestream', first, { version });
      });
    await Promise.all([crossing(one, 'dead-a', 'dead-b', 2), crossing(two, 'dead-b', 'dead-a', 3)]);
    expect(runs).toBe(3);
    expect((await one.streams.get('livestream', 'dead-a'))?.version).toBe(2);
    expect((await one.streams.get('livestream', 'dead-b'))?.version).toBe(3);
  });
});
