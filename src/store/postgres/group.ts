import type pg from 'pg';
import { CHANGE_LOG_LOCK_KEY } from './connect.js';
import { classify, isUnreachable } from './errors.js';
import {
  type Executor,
  type Frame,
  fail,
  type GroupMember,
  type GroupState,
  type PgTransactions,
} from './transactions.js';

/** Most members one group commit holds: it bounds how long the first of them waits for the commit. */
export const MAX_GROUP = 64;

const LOCK = `select pg_advisory_xact_lock(${CHANGE_LOG_LOCK_KEY.toString()})`;

interface Member {
  fn: () => Promise<unknown>;
  /** `fn` in a transaction of its own (the store's: savepoints, deadlock retries). */
  alone: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit on PostgreSQL: concurrent writers (webhook deliveries) share one transaction on one
 * connection and hear "done" once it has committed. Every writer of applied history holds the
 * change-log lock to its commit (history.ts), so without grouping each one paid its own WAL flush
 * while all the others waited; a group pays one lock and one flush.
 *
 * The group's connection is pipelined (node-postgres `pipeline`): its members run at once, their
 * statements sent without waiting for each other's answers, so a group costs about as many round
 * trips as one member, not one member's times their number (on a loaded 2-core machine a round
 * trip, not the server's work, is what a statement costs: bench/README.md). Members holding the
 * same stream row wait for each other (`PgTransactions.hold`), as row locks make transactions wait.
 *
 * The change-log lock is the group's first statement, before any member's first row lock, delivery
 * or history row: a group never holds a row another writer waits for while waiting for the lock.
 * One group runs at a time per process; writers arriving meanwhile join it (up to MAX_GROUP) or
 * the next. Members run without savepoints (transactions nested in them too): when one fails, the
 * group rolls back, the failing member runs again alone (with savepoints, as any transaction) and
 * the others in the next group, so one bad member never costs the others their acknowledgement and
 * nothing of a failed attempt is kept. A database that cannot be reached fails every member of the
 * group (StoreUnavailableError): nothing of it is durable.
 */
export class GroupCommit {
  private readonly queue: Member[] = [];
  private running = false;
  private readonly executors = new WeakMap<pg.PoolClient, Executor>();

  constructor(
    /** A pool of one pipelined connection, the group's own. */
    private readonly pool: pg.Pool,
    private readonly transactions: PgTransactions,
    private readonly over: (client: pg.PoolClient) => Executor,
    private readonly log: (sql: string) => void,
  ) {}

  run<T>(fn: () => Promise<T>, alone: (fn: () => Promise<T>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, alone: () => alone(fn), resolve: resolve as (value: unknown) => void, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) await this.commitOne();
    } finally {
      this.running = false;
    }
  }

  private executor(client: pg.PoolClient): Executor {
    let executor = this.executors.get(client);
    if (!executor) {
      executor = this.over(client);
      this.executors.set(client, executor);
    }
    return executor;
  }

  /** One group: never throws, settles every member it took (or hands it back to the queue). */
  private async commitOne(): Promise<void> {
    // Taken before connecting: if the database cannot be reached, these are the ones told so
    // (left in the queue, the drain would try again at once, for ever).
    const members: Member[] = this.queue.splice(0, MAX_GROUP);
    const states: GroupMember[] = [];
    const frames: Frame[] = [];
    const values: unknown[] = [];
    const group: GroupState = { failed: false, failedBy: null, rows: new Map(), tags: [] };
    const shared = { committed: [] as (() => void)[], positions: [] as number[] };
    let client: pg.PoolClient | undefined;
    let committed = false;
    let error: unknown;
    try {
      client = await this.pool.connect();
      const tx = this.executor(client);
      this.log('begin');
      this.log(LOCK);
      // Pipelined with the members' first statements, which PostgreSQL runs after them: no
      // round trip of its own. If either fails, so do the members' statements (and the group).
      const begun = Promise.all([client.query('begin'), client.query(LOCK)]);
      begun.catch(() => {});
      await new Promise<void>((done) => {
        let running = 0;
        const start = (i: number) => {
          const member = members[i] as Member;
          const state: GroupMember = { waitingFor: null, waiters: [], position: 0 };
          const frame: Frame = { tx, ...shared, open: true, group, member: state };
          states.push(state);
          frames.push(frame);
          running++;
          this.transactions.within(frame, member.fn).then(
            (value) => {
              values[i] = value;
              settled(state);
            },
            () => {
              fail(frame);
              settled(state);
            },
          );
        };
        const settled = (state: GroupMember) => {
          for (const [key, holder] of group.rows) if (holder === state) group.rows.delete(key);
          for (const wake of state.waiters.splice(0)) wake();
          running--;
          fill();
          if (running === 0) done();
        };
        // Writers that arrive while the group runs join it.
        const fill = () => {
          while (!group.failed && members.length < MAX_GROUP && this.queue.length > 0) {
            start(members.push(this.queue.shift() as Member) - 1);
          }
        };
        for (let i = 0; i < members.length; i++) start(i);
        fill();
        if (running === 0) done();
      });
      for (const frame of frames) frame.open = false;
      await begun;
      const end = group.failed ? 'rollback' : 'commit';
      this.log(end);
      const ended = await client.query(end);
      // COMMIT of a transaction that a failed statement aborted answers ROLLBACK, not an error.
      committed = !group.failed && ended.command === 'COMMIT';
    } catch (caught) {
      error = caught;
    } finally {
      for (const frame of frames) frame.open = false;
      // A connection whose transaction did not end cleanly is not reused.
      client?.release(error !== undefined);
    }
    if (committed) {
      // Callbacks (publications) run in change-log order, as their members wrote it.
      const order = shared.committed.map((_, i) => i).sort((a, b) => (group.tags[a] ?? 0) - (group.tags[b] ?? 0));
      this.transactions.order.settle(
        shared.positions,
        order.map((i) => shared.committed[i] as () => void),
      );
      for (const [i, member] of members.entries()) member.resolve(values[i]);
      return;
    }
    this.transactions.order.settle(shared.positions, null);
    if (error !== undefined && isUnreachable(error)) {
      for (const member of members) member.reject(classify(error));
      return;
    }
    const failedAt = group.failedBy ? states.indexOf(group.failedBy) : -1;
    if (failedAt >= 0) {
      // The failing member alone; the others (rolled back with it) in the next group.
      const [failing] = members.splice(failedAt, 1);
      this.queue.unshift(...members);
      if (failing) await settleAlone(failing);
      return;
    }
    for (const member of members) await settleAlone(member);
  }
}

async function settleAlone(member: Member): Promise<void> {
  try {
    member.resolve(await member.alone());
  } catch (error) {
    member.reject(error);
  }
}
