import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/store/sqlite/store.js';
import type { NewStream } from '../src/store/types.js';

/**
 * The store's transactions are asynchronous while SQLite has one connection: a transaction holds
 * it until it settles, so another flow neither sees nor joins its uncommitted writes, and a
 * transaction opened inside it (same async flow) is a savepoint that may roll back alone.
 */

let store: SqliteStore | undefined;
let dir: string | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/**
 * A store on a real file (WAL). `offLoop`: every group commit flushes its log after COMMIT, off the
 * event loop; otherwise inside COMMIT while that is quick, as on a test machine's disk.
 */
function fileStore(offLoop = false): { store: SqliteStore; path: string } {
  dir = mkdtempSync(join(tmpdir(), 'store-transactions-'));
  const path = join(dir, 'store.sqlite');
  store = new SqliteStore(path, offLoop ? { inlineFlushLimitMs: 0 } : {});
  return { store, path };
}

function stream(id: string): NewStream {
  const at = new Date(Date.UTC(2026, 0, 1));
  return {
    id,
    provider: 'SANDBOX',
    roomId: `room-${id}`,
    externalId: null,
    sessionId: null,
    status: 'STARTING',
    vendorStatus: null,
    version: 1,
    failureReason: null,
    idempotencyKey: null,
    startedAt: null,
    stoppedAt: null,
    createdAt: at,
    updatedAt: at,
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Store.transaction', () => {
  it('keeps another flow out until it settles: no uncommitted read, no write joining a rollback', async () => {
    store = new SqliteStore(':memory:');
    const s = store;
    let inside!: () => void;
    const paused = new Promise<void>((resolve) => {
      inside = resolve;
    });
    let resume!: () => void;
    const resumed = new Promise<void>((resolve) => {
      resume = resolve;
    });
    const rolledBack = s.transaction(async () => {
      await s.streams.insert('livestream', stream('undone'));
      inside();
      await resumed;
      throw new Error('undo');
    });
    await paused;
    // Asked while the transaction is open, answered after it rolled back.
    const read = s.streams.get('livestream', 'undone');
    const write = s.streams.insert('livestream', stream('kept'));
    const other = s.transaction(async () => s.streams.get('livestream', 'undone'));
    await tick();
    resume();
    await expect(rolledBack).rejects.toThrow('undo');
    expect(await read).toBeUndefined();
    await write;
    expect(await other).toBeUndefined();
    expect((await s.streams.get('livestream', 'kept'))?.id).toBe('kept');
  });

  it('makes a nested transaction of the same flow a savepoint that rolls back alone', async () => {
    store = new SqliteStore(':memory:');
    const s = store;
    const published: string[] = [];
    await s.transaction(async () => {
      await s.streams.insert('livestream', stream('outer'));
      s.afterCommit(() => published.push('outer'));
      await expect(
        s.transaction(async () => {
          await s.streams.insert('livestream', stream('inner'));
          s.afterCommit(() => published.push('inner'));
          throw new Error('inner only');
        }),
      ).rejects.toThrow('inner only');
      // Nothing is published before the outermost commit.
      expect(published).toEqual([]);
    });
    expect(published).toEqual(['outer']);
    expect(await s.streams.get('livestream', 'outer')).toBeDefined();
    expect(await s.streams.get('livestream', 'inner')).toBeUndefined();
  });

  it('commits concurrent group transactions together, each rolling back alone', async () => {
    store = new SqliteStore(':memory:');
    const s = store;
    const results = await Promise.allSettled(
      ['a', 'b', 'c'].map((id) =>
        s.groupTransaction(async () => {
          await s.streams.insert('livestream', stream(id));
          if (id === 'b') throw new Error('b fails');
          return id;
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await s.streams.getMany('livestream', ['a', 'b', 'c'])).map((r) => r.id).sort()).toEqual(['a', 'c']);
  });

  it.each([
    ['off the event loop', true],
    ['inside COMMIT', false],
  ])(
    'on a file, with group commits flushed %s, answers group and plain transactions in commit order, each change readable once answered',
    async (_flushed, offLoop) => {
      const { store: s, path } = fileStore(offLoop);
      const order: string[] = [];
      const answered: string[] = [];
      const write = (id: string, grouped: boolean) => {
        const fn = async () => {
          await s.streams.insert('livestream', stream(id));
          s.afterCommit(() => order.push(id));
          return id;
        };
        return (grouped ? s.groupTransaction(fn) : s.transaction(fn)).then(async (value) => {
          answered.push(value);
          // Whatever answered is there for every reader, this process's and another connection's.
          expect((await s.streams.get('livestream', value))?.id).toBe(value);
          return value;
        });
      };
      // Two groups (one per turn of the event loop) with a plain transaction between them, and reads
      // from outside any transaction asked while they commit.
      const first = ['g1', 'g2', 'g3'].map((id) => write(id, true));
      const plain = write('plain', false);
      const reads = ['g1', 'plain'].map((id) => s.streams.get('livestream', id));
      await tick();
      const second = ['h1', 'h2'].map((id) => write(id, true));
      await Promise.all([...first, plain, ...second, ...reads]);
      // Commit order is the order the rows were written in (another connection reads them).
      const other = new Database(path, { readonly: true });
      let committed: string[];
      try {
        committed = other.prepare('select id from livestreams order by rowid').pluck().all() as string[];
      } finally {
        other.close();
      }
      expect([...committed].sort()).toEqual(['g1', 'g2', 'g3', 'h1', 'h2', 'plain']);
      expect(order).toEqual(committed);
      expect(answered).toEqual(committed);
      // Every commit leaves the connection at synchronous=FULL (2) for the next one.
      expect(s.db.get<{ synchronous: number }>(sql`pragma synchronous`)?.synchronous).toBe(2);
    },
  );
});

/**
 * A group commit's members take no savepoint (src/store/sqlite/group.ts): when one fails, the
 * shared transaction rolls back whole, the failing member runs again alone and the others in the
 * next group. What a caller observes: the failing member's writes and callbacks are nowhere, the
 * others' are there once, and a member is rejected only if it fails alone.
 */
describe('Store.groupTransaction when a member fails', () => {
  const rowIds = (s: SqliteStore) => s.db.all<{ id: string }>(sql`select id from livestreams order by rowid`);

  it.each([
    ['in memory', false],
    ['on a file, flushed off the event loop', true],
  ])('%s: keeps nothing of the failing member, and the others and their callbacks once', async (_where, onFile) => {
    if (!onFile) store = new SqliteStore(':memory:');
    const s = onFile ? fileStore(true).store : (store as SqliteStore);
    const published: string[] = [];
    const runs = new Map<string, number>();
    const results = await Promise.allSettled(
      ['a', 'b', 'c', 'd'].map((id) =>
        s.groupTransaction(async () => {
          runs.set(id, (runs.get(id) ?? 0) + 1);
          await s.streams.insert('livestream', stream(id));
          s.afterCommit(() => published.push(id));
          // A nested transaction, written and left waiting for the commit, before the failure.
          await s.transaction(async () => {
            await s.streams.insert('livestream', stream(`${id}-nested`));
            s.afterCommit(() => published.push(`${id}-nested`));
          });
          if (id === 'c') throw new Error('c fails');
          return id;
        }),
      ),
    );
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : String(r.reason)))).toEqual([
      'a',
      'b',
      'Error: c fails',
      'd',
    ]);
    // c ran in the group, then alone (where it failed again); a and b in the group, then again
    // in the next one.
    expect(runs.get('c')).toBe(2);
    const committed = rowIds(s).map((row) => row.id);
    expect([...committed].sort()).toEqual(['a', 'a-nested', 'b', 'b-nested', 'd', 'd-nested']);
    expect(published).toEqual(committed);
  });

  it('runs a member that fails only beside another alone, where it succeeds', async () => {
    store = new SqliteStore(':memory:');
    const s = store;
    const published: string[] = [];
    const write = (id: string, unless?: string) =>
      s.groupTransaction(async () => {
        // Refused while `unless` is there: in the group, the member before it wrote it.
        if (unless && (await s.streams.get('livestream', unless))) throw new Error(`${id} after ${unless}`);
        await s.streams.insert('livestream', stream(id));
        s.afterCommit(() => published.push(id));
        return id;
      });
    const results = await Promise.all([write('first'), write('second', 'first'), write('third')]);
    expect(results).toEqual(['first', 'second', 'third']);
    // The failing member alone committed first, the others after it.
    const committed = rowIds(s).map((row) => row.id);
    expect(committed).toEqual(['second', 'first', 'third']);
    expect(published).toEqual(committed);
  });

  it('treats a nested transaction that failed as the member failing, even when the member caught it', async () => {
    store = new SqliteStore(':memory:');
    const s = store;
    const published: string[] = [];
    const results = await Promise.all(
      ['x', 'y', 'z'].map((id) =>
        s.groupTransaction(async () => {
          await s.streams.insert('livestream', stream(id));
          s.afterCommit(() => published.push(id));
          if (id === 'y') {
            await s
              .transaction(async () => {
                await s.streams.insert('livestream', stream('y-inner'));
                s.afterCommit(() => published.push('y-inner'));
                throw new Error('inner fails');
              })
              .catch(() => undefined);
          }
          return id;
        }),
      ),
    );
    expect(results).toEqual(['x', 'y', 'z']);
    // Alone, y's nested transaction was a savepoint that rolled back by itself.
    const committed = rowIds(s).map((row) => row.id);
    expect([...committed].sort()).toEqual(['x', 'y', 'z']);
    expect(published).toEqual(committed);
  });
});
