import { AsyncLocalStorage } from 'node:async_hooks';
import type { NodePgQueryResultHKT } from 'drizzle-orm/node-postgres';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import type { GroupBatch } from './batch.js';
import type { PostgresDb } from './connect.js';
import { CommitOrder, flush } from './order.js';
import type * as tables from './tables.js';

/** What runs a statement: the pool (outside a transaction) or a transaction's (savepoint's) client. */
export type Executor = PgDatabase<NodePgQueryResultHKT, typeof tables>;

/**
 * How a stream row read to be changed is locked: not outside a transaction; FOR UPDATE in one;
 * FOR UPDATE NOWAIT in a group commit, which holds the change-log lock from its start and so must
 * never wait for a row whose holder may be waiting for that lock (a deadlock PostgreSQL would
 * break only after `deadlock_timeout`): the member finding its row taken fails, and runs again
 * alone, taking the row before the lock as every other writer does.
 */
export type RowLock = 'none' | 'wait' | 'nowait';

/** The transaction an async flow runs in (found through AsyncLocalStorage). */
export interface Frame {
  tx: Executor;
  /** What waits for the outermost transaction to commit (shared by its savepoints). */
  committed: (() => void)[];
  /** Change-log positions the transaction wrote (shared by its savepoints). */
  positions: number[];
  /** False once `fn` settled: a flow that outlives its transaction runs on the pool again. */
  open: boolean;
  /**
   * Set in a group commit (group.ts): a transaction nested in it takes no savepoint, and any
   * failure inside it fails the whole group (it is then rolled back and its members run again).
   */
  group?: GroupState;
  /** The group member this flow runs (its frame is its own; the group's transaction is shared). */
  member?: GroupMember;
}

/** A writer of a group commit, as the stream rows it holds see it. */
export interface GroupMember {
  /** The member holding a stream row this one waits for. */
  waitingFor: GroupMember | null;
  /** Called when it settles: the rows it held are free. */
  waiters: (() => void)[];
  /** The last change-log position it wrote: its afterCommit callbacks run in that order. */
  position: number;
}

export interface GroupState {
  /** The member whose failure failed the group (null for the group's own). */
  failedBy: GroupMember | null;
  failed: boolean;
  /** Stream rows held by members (kind:id), as a row lock holds them for a transaction. */
  rows: Map<string, GroupMember>;
  /** Each afterCommit callback's member position (committed[i] → tags[i]). */
  tags: number[];
  /** The members' batched statements (batch.ts), once the group has its connection. */
  batch?: GroupBatch;
}

/**
 * Transactions on a pool: the outermost one of an async flow checks out a client (drizzle's
 * `transaction`: BEGIN … COMMIT, ROLLBACK on a throw, the client released after), the flow is
 * marked with AsyncLocalStorage so the store's statements inside it run on that client, and a
 * transaction started inside it is a savepoint. Unlike SQLite, flows never wait for each other
 * here: each transaction has its own connection, PostgreSQL's locks order them.
 */
export class PgTransactions {
  private readonly flow = new AsyncLocalStorage<Frame>();
  readonly order = new CommitOrder();

  constructor(private readonly db: PostgresDb) {}

  /** The client the calling flow's statements run on. */
  executor(): Executor {
    const frame = this.flow.getStore();
    return frame?.open ? frame.tx : this.db;
  }

  inTransaction(): boolean {
    return this.flow.getStore()?.open === true;
  }

  /** True when the calling flow's transaction took the change-log lock at its start (a group commit). */
  holdsChangeLogLock(): boolean {
    const frame = this.flow.getStore();
    return frame?.open === true && frame.group !== undefined;
  }

  /** The batched statements of the calling flow's group commit (batch.ts); none outside one. */
  groupBatch(): GroupBatch | undefined {
    const frame = this.flow.getStore();
    return frame?.open ? frame.group?.batch : undefined;
  }

  rowLock(): RowLock {
    const frame = this.flow.getStore();
    if (!frame?.open) return 'none';
    return frame.group ? 'nowait' : 'wait';
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const outer = this.flow.getStore();
    if (outer?.open) return outer.group ? unguarded(outer, fn) : this.savepoint(outer, fn);
    const committed: (() => void)[] = [];
    const positions: number[] = [];
    let result: T;
    try {
      result = await this.db.transaction(async (tx) => {
        const frame: Frame = { tx, committed, positions, open: true };
        try {
          return await this.flow.run(frame, fn);
        } finally {
          frame.open = false;
        }
      });
    } catch (error) {
      this.order.settle(positions, null);
      throw error;
    }
    if (positions.length === 0) flush(committed);
    else this.order.settle(positions, committed);
    return result;
  }

  /** Runs `fn` in `frame` (a group commit's transaction, see group.ts). */
  within<T>(frame: Frame, fn: () => Promise<T>): Promise<T> {
    return this.flow.run(frame, fn);
  }

  /** The calling flow's transaction wrote change-log position `position` (see CommitOrder). */
  wrote(position: number): void {
    const frame = this.flow.getStore();
    if (!frame?.open) return;
    frame.positions.push(position);
    if (frame.member) frame.member.position = position;
    this.order.begin(position);
  }

  /**
   * A group member read stream row `key` to change it: the row lock of its transaction is the
   * group's, shared by all members, so members running at once hold rows from each other here,
   * until they settle. Answers true when it had to wait (the row must then be read again). A wait
   * that would close a cycle fails the group (its members then run again, the failing one alone).
   */
  async hold(key: string): Promise<boolean> {
    const frame = this.flow.getStore();
    const { group, member } = frame ?? {};
    if (!frame?.open || !group || !member) return false;
    let waited = false;
    for (let holder = group.rows.get(key); holder && holder !== member; holder = group.rows.get(key)) {
      for (let next: GroupMember | null = holder; next; next = next.waitingFor) {
        if (next === member) {
          fail(frame);
          throw new Error(`group commit members wait for each other (${key})`);
        }
      }
      member.waitingFor = holder;
      await new Promise<void>((resolve) => holder?.waiters.push(resolve));
      member.waitingFor = null;
      waited = true;
    }
    group.rows.set(key, member);
    return waited;
  }

  private savepoint<T>(outer: Frame, fn: () => Promise<T>): Promise<T> {
    // If it rolls back, so does what it left waiting for the commit.
    const mark = outer.committed.length;
    return outer.tx.transaction(async (tx) => {
      const frame: Frame = { tx, committed: outer.committed, positions: outer.positions, open: true };
      try {
        return await this.flow.run(frame, fn);
      } catch (error) {
        outer.committed.length = mark;
        throw error;
      } finally {
        frame.open = false;
      }
    });
  }

  /** Runs `fn` once the current transaction has committed (at once outside one); dropped on rollback. */
  afterCommit(fn: () => void): void {
    const frame = this.flow.getStore();
    if (!frame?.open) {
      fn();
      return;
    }
    frame.committed.push(fn);
    frame.group?.tags.push(frame.member?.position ?? 0);
  }
}

/**
 * A transaction nested in a group commit: no savepoint (a round trip less on each side), so
 * nothing of it can roll back alone: a failure fails the group, whose members then run again
 * one by one (group.ts).
 */
async function unguarded<T>(frame: Frame, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    fail(frame);
    throw error;
  }
}

/** The group `frame` runs in has failed, by its member's doing unless another failed it first. */
export function fail(frame: Frame): void {
  const { group } = frame;
  if (!group) return;
  if (!group.failed) group.failedBy = frame.member ?? null;
  group.failed = true;
}
