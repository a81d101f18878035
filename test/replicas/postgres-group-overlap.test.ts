import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/domain/errors.js';
import { MAX_GROUP } from '../../src/store/postgres/group.js';
import type { PostgresStore } from '../../src/store/postgres/store.js';
import { waitFor } from '../helpers.js';
import { change, streamRow, type TwoReplicas, twoReplicas } from './stores.js';

/**
 * Two PostgreSQL group commits in flight at once (src/store/postgres/group.ts): the next group is
 * sent while the one before it is still open or committing, and its statements wait in PostgreSQL
 * behind the change-log lock. A full first group (MAX_GROUP members, one of them held open by the
 * test) makes the writers after it start the next group; what a caller observes: both commit in
 * order, the next reads what the first left, publications follow the change log, a failure in the
 * next group costs only its member, and a database lost with both in flight fails every member of
 * both with nothing kept.
 */

let replicas: TwoReplicas;
let one: PostgresStore;
let two: PostgresStore;

beforeAll(async () => {
  replicas = await twoReplicas();
  ({ one, two } = replicas);
});

afterAll(() => replicas?.close());

/** A promise the test settles, to hold a group member (and so its group) open. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/** Group connections of this database waiting for the change-log lock (PostgreSQL's own view). */
async function waitingForLock(store: PostgresStore): Promise<number> {
  const { rows } = await store.pool.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity
     where datname = current_database() and wait_event_type = 'Lock' and wait_event = 'advisory'`,
  );
  return rows[0]?.n ?? 0;
}

/**
 * Ends this database's other connections matching `where` (a condition on pg_stat_activity) and
 * waits until they are gone; answers how many it ended.
 */
async function terminate(where: string): Promise<number> {
  const others = `from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`;
  const { rows } = await two.pool.query<{ pid: number; ended: boolean }>(
    `select pid, pg_terminate_backend(pid) as ended ${others} and ${where}`,
  );
  expect(rows.map((row) => row.ended)).toEqual(rows.map(() => true));
  const pids = rows.map((row) => row.pid);
  await waitFor(async () => {
    const left = await two.pool.query(`select 1 ${others} and pid = any($1::int[])`, [pids]);
    return left.rowCount === 0;
  });
  return rows.length;
}

/**
 * A full first group, its member 0 changing stream `shared` and then held by `held`, its others
 * changing streams of their own; then `next` (the writers of the second group) once that group
 * waits on the lock. Answers every member's outcome, first group then second.
 */
async function twoGroups(
  prefix: string,
  published: number[],
  next: (() => Promise<unknown>)[],
  whileBoth: () => Promise<void> = async () => {},
): Promise<PromiseSettledResult<unknown>[]> {
  const held = gate();
  const shared = `${prefix}-shared`;
  await one.streams.insert('livestream', streamRow(shared));
  const own = Array.from({ length: MAX_GROUP - 1 }, (_, i) => `${prefix}-${i}`);
  for (const id of own) await one.streams.insert('livestream', streamRow(id));
  const settled: boolean[] = [];
  let done = 0;
  const track = (promise: Promise<unknown>, i: number) =>
    promise.finally(() => {
      settled[i] = true;
    });
  const first = [
    one.groupTransaction(async () => {
      const version = await change(one, shared, published);
      await held.opened;
      return version;
    }),
    ...own.map((id) =>
      one.groupTransaction(async () => {
        const version = await change(one, id, published);
        done++;
        return version;
      }),
    ),
  ];
  const second = next.map((fn) => one.groupTransaction(fn));
  const all = Promise.allSettled([...first, ...second].map(track));
  try {
    // The first group's other members are done (it waits for member 0 alone), and the second
    // group's BEGIN and lock are in PostgreSQL, waiting for the first group to end.
    await waitFor(async () => done === own.length && (await waitingForLock(two)) === 1);
    // Nothing of the second group can have been answered: its statements run after the first's commit.
    expect(settled.slice(MAX_GROUP).filter(Boolean)).toEqual([]);
    await whileBoth();
  } finally {
    held.open();
  }
  return all;
}

describe('two PostgreSQL group commits in flight', () => {
  it('commits them in order: the next group reads what the first left, publications in change-log order', async () => {
    const published: number[] = [];
    const results = await twoGroups(
      'order',
      published,
      Array.from({ length: 6 }, () => () => change(one, 'order-shared', published)),
    );
    expect(results.map((r) => r.status)).toEqual(results.map(() => 'fulfilled'));
    const versions = results.map((r) => (r as PromiseFulfilledResult<number>).value);
    // The first group's member changed the shared stream first (version 2); the next group's six after it.
    expect(versions[0]).toBe(2);
    expect(versions.slice(MAX_GROUP).sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 7, 8]);
    expect((await two.streams.get('livestream', 'order-shared'))?.version).toBe(8);
    expect(published).toHaveLength(MAX_GROUP + 6);
    expect(published).toEqual([...published].sort((a, b) => a - b));
  });

  it('fails only the failing member of the next group while the first commits', async () => {
    const published: number[] = [];
    await one.streams.insert('livestream', streamRow('fail-taken'));
    const fresh = Array.from({ length: 5 }, (_, i) => `fail-new-${i}`);
    const results = await twoGroups('fail', published, [
      ...fresh.map((id) => async () => {
        await one.streams.insert('livestream', streamRow(id));
        return change(one, 'fail-shared', published);
      }),
      // A primary key that exists: PostgreSQL aborts the second group's transaction.
      () => one.streams.insert('livestream', streamRow('fail-taken')),
    ]);
    const second = results.slice(MAX_GROUP);
    expect(results.slice(0, MAX_GROUP).map((r) => r.status)).toEqual(Array(MAX_GROUP).fill('fulfilled'));
    expect(second.map((r) => r.status)).toEqual([...fresh.map(() => 'fulfilled'), 'rejected']);
    expect(one.isUniqueViolation((second[5] as PromiseRejectedResult).reason)).toBe(true);
    const versions = second.slice(0, 5).map((r) => (r as PromiseFulfilledResult<number>).value);
    expect(versions.sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 7]);
    expect((await two.streams.getMany('livestream', fresh)).map((row) => row.id).sort()).toEqual(fresh);
    expect(published).toHaveLength(MAX_GROUP + 5);
    expect(published).toEqual([...published].sort((a, b) => a - b));
  });

  it('tells every member of both groups the database is unavailable when it is lost, keeping nothing', async () => {
    const published: number[] = [];
    const fresh = Array.from({ length: 4 }, (_, i) => `lost-new-${i}`);
    const results = await twoGroups(
      'lost',
      published,
      fresh.map((id) => () => one.streams.insert('livestream', streamRow(id))),
      async () => {
        // Both group connections end. The second's (waiting for the lock) goes first, and is
        // gone before the first's (holding the lock, idle in its transaction while member 0 is
        // held) is ended: the other way round, the first's death hands the lock to the second,
        // which could run its statements and commit before its own end (seen under load).
        expect(await terminate("wait_event = 'advisory'")).toBe(1);
        expect(await terminate("state like 'idle in transaction%'")).toBe(1);
      },
    );
    for (const result of results) {
      expect(result.status).toBe('rejected');
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
    }
    expect(published).toEqual([]);
    expect(await two.streams.getMany('livestream', fresh)).toEqual([]);
    expect((await two.streams.getMany('livestream', ['lost-shared', 'lost-0'])).map((row) => row.version)).toEqual([
      1, 1,
    ]);
    // New connections are opened for the next groups.
    expect(await one.groupTransaction(() => change(one, 'lost-shared', published))).toBe(2);
  });
});
