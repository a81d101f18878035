import type pg from 'pg';
import type { LocalCommit } from '../types.js';
import { GroupBatch } from './batch.js';
import { CHANGE_LOG_LOCK_KEY } from './connect.js';
import { classify, isUnreachable } from './errors.js';
import { issueSoon } from './pipeline.js';
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

/**
 * Groups in flight at once per process, each on a connection of its own: the one writers join,
 * and the one before it, committing. The next group's BEGIN, lock and members' statements are
 * sent while the previous one commits; PostgreSQL runs them as soon as that COMMIT releases the
 * change-log lock, so the new group's rounds overlap the previous flush instead of following it.
 */
export const GROUPS_IN_FLIGHT = 2;

const LOCK = `select pg_advisory_xact_lock(${CHANGE_LOG_LOCK_KEY.toString()})`;

/**
 * The change log's head, read after the lock in a statement of its own: READ COMMITTED takes a
 * statement's snapshot when it starts, so one read in the lock's statement (taken while waiting)
 * could miss the commit that released the lock. Backwards along the primary key (changelog.ts `head`).
 */
const HEAD = {
  name: 'change_log_head',
  text: 'select coalesce(max(id), 0)::bigint as head from status_events where applied',
};

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
 * Writers join the open group as they arrive (up to MAX_GROUP) until its members are done; the
 * group then commits, and writers arriving meanwhile open the next group on the other connection
 * (GROUPS_IN_FLIGHT). That group's statements wait in PostgreSQL behind its lock until the previous
 * group has committed, so two groups never hold rows at once: a member of the next group reads
 * the rows the previous one left, committed. Members run without savepoints (transactions nested
 * in them too): when one fails, the group rolls back, the failing member runs again alone (with
 * savepoints, as any transaction) and the others in a next group, so one bad member never costs the
 * others their acknowledgement and nothing of a failed attempt is kept; no group starts while it
 * runs alone. A database that cannot be reached fails every member of the group
 * (StoreUnavailableError): nothing of it is durable.
 */
export class GroupCommit {
  private readonly queue: Member[] = [];
  /** The group writers join, while its members run. */
  private open: Group | undefined;
  private inFlight = 0;
  /** A failed group's member running alone: no group starts meanwhile. */
  private isolating = 0;
  /** Settles once the last group started holds the change-log lock (or could not take it). */
  private locked: Promise<unknown> = Promise.resolve();
  private readonly executors = new WeakMap<pg.PoolClient, Executor>();
  /** Told each committed group that wrote change-log positions (`Store.onLocalCommit`). */
  readonly commitListeners = new Set<(commit: LocalCommit) => void>();

  constructor(
    /** A pool of GROUPS_IN_FLIGHT pipelined connections, the groups' own. */
    private readonly pool: pg.Pool,
    private readonly transactions: PgTransactions,
    private readonly over: (client: pg.PoolClient) => Executor,
    private readonly log: (sql: string) => void,
  ) {}

  run<T>(fn: () => Promise<T>, alone: (fn: () => Promise<T>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, alone: () => alone(fn), resolve: resolve as (value: unknown) => void, reject });
      this.pump();
    });
  }

  /** Queued writers join the open group, or open the next one if a connection is free for it. */
  private pump(): void {
    if (this.open && !this.open.take(this.queue)) this.open = undefined;
    while (this.queue.length > 0 && !this.open && this.inFlight < GROUPS_IN_FLIGHT && this.isolating === 0) {
      const group = new Group(this.transactions, () => {
        if (this.open === group) this.open = undefined;
        this.pump();
      });
      this.open = group;
      this.inFlight++;
      if (!group.take(this.queue)) this.open = undefined;
      void this.commit(group);
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
  private async commit(group: Group): Promise<void> {
    let client: pg.PoolClient | undefined;
    let committed = false;
    let error: unknown;
    // Groups take the lock in the order they started: sent at once on two connections, the later
    // one could reach it first.
    const previous = this.locked;
    let lockTaken = () => {};
    this.locked = new Promise<void>((resolve) => {
      lockTaken = resolve;
    });
    try {
      client = await this.pool.connect();
      await previous;
      const tx = this.executor(client);
      const batch = new GroupBatch(client, this.log);
      group.state.batch = batch;
      // BEGIN and the lock leave with the members' first batched reads, in one write.
      issueSoon(client, () => batch.pending());
      this.log('begin');
      this.log(LOCK);
      // Pipelined with the members' first statements, which PostgreSQL runs after them: no
      // round trip of its own. If either fails, so do the members' statements (and the group).
      const begun = Promise.all([client.query('begin'), client.query(LOCK)]);
      begun.then(lockTaken, lockTaken);
      // Only when someone listens (the change-log tailer): one statement more, pipelined too.
      let head: Promise<number | null> = Promise.resolve(null);
      if (this.commitListeners.size > 0) {
        this.log(HEAD.text);
        head = client.query<{ head: string }>(HEAD).then(
          (result) => Number(result.rows[0]?.head ?? 0),
          () => null,
        );
      }
      await group.runMembers(tx);
      await begun;
      const end = group.state.failed ? 'rollback' : 'commit';
      this.log(end);
      const ended = await client.query(end);
      // COMMIT of a transaction that a failed statement aborted answers ROLLBACK, not an error.
      committed = !group.state.failed && ended.command === 'COMMIT';
      group.head = await head;
    } catch (caught) {
      error = caught;
    } finally {
      lockTaken();
      // Taken before connecting, the members are the ones told if the database cannot be reached
      // (left queued, the next group would try again at once, for ever): none joins any more.
      group.close();
      // A connection whose transaction did not end cleanly is not reused.
      client?.release(error !== undefined);
      this.inFlight--;
    }
    try {
      await this.settle(group, committed, error);
    } finally {
      this.pump();
    }
  }

  private async settle(group: Group, committed: boolean, error: unknown): Promise<void> {
    const { members, shared } = group;
    if (committed) {
      // Told before the group's publications, which may follow in this turn.
      if (group.head !== null && shared.positions.length > 0) this.tellCommitted(group.head, shared.positions);
      // Callbacks (publications) run in change-log order, as their members wrote it.
      const tags = group.state.tags;
      const order = shared.committed.map((_, i) => i).sort((a, b) => (tags[a] ?? 0) - (tags[b] ?? 0));
      this.transactions.order.settle(
        shared.positions,
        order.map((i) => shared.committed[i] as () => void),
      );
      for (const [i, member] of members.entries()) member.resolve(group.values[i]);
      return;
    }
    this.transactions.order.settle(shared.positions, null);
    if (error !== undefined && isUnreachable(error)) {
      for (const member of members) member.reject(classify(error));
      return;
    }
    const failedAt = group.state.failedBy ? group.states.indexOf(group.state.failedBy) : -1;
    this.isolating++;
    try {
      if (failedAt >= 0) {
        // The failing member alone; the others (rolled back with it) in a next group.
        const [failing] = members.splice(failedAt, 1);
        this.queue.unshift(...members);
        if (failing) await settleAlone(failing);
        return;
      }
      for (const member of members) await settleAlone(member);
    } finally {
      this.isolating--;
    }
  }

  private tellCommitted(head: number, written: readonly number[]): void {
    const commit: LocalCommit = { head, positions: [...written].sort((a, b) => a - b) };
    for (const listener of this.commitListeners) {
      try {
        listener(commit);
      } catch {
        // A listener's failure is its own: the members are still answered.
      }
    }
  }
}

/** One group's members and what they share: its transaction's state and what waits for its commit. */
class Group {
  readonly members: Member[] = [];
  readonly states: GroupMember[] = [];
  readonly values: unknown[] = [];
  readonly state: GroupState = { failed: false, failedBy: null, rows: new Map(), tags: [] };
  readonly shared = { committed: [] as (() => void)[], positions: [] as number[] };
  /** The change log's head when the group took the lock (null: not read, or the read failed). */
  head: number | null = null;
  private readonly frames: Frame[] = [];
  private tx: Executor | undefined;
  private running = 0;
  private closed = false;
  private done: (() => void) | undefined;

  constructor(
    private readonly transactions: PgTransactions,
    /** Called once no writer can join any more. */
    private readonly onClosed: () => void,
  ) {}

  /** Takes queued writers while it accepts them; answers whether it still does. */
  take(queue: Member[]): boolean {
    while (this.accepts() && queue.length > 0) this.add(queue.shift() as Member);
    return this.accepts();
  }

  private accepts(): boolean {
    return !this.closed && !this.state.failed && this.members.length < MAX_GROUP;
  }

  private add(member: Member): void {
    const i = this.members.push(member) - 1;
    if (this.tx) this.start(i);
  }

  /** Runs the members taken so far and those that join, until none is left running. */
  runMembers(tx: Executor): Promise<void> {
    this.tx = tx;
    return new Promise<void>((done) => {
      this.done = done;
      for (let i = 0; i < this.members.length; i++) this.start(i);
      if (this.running === 0) this.finish();
    });
  }

  private start(i: number): void {
    const member = this.members[i] as Member;
    const state: GroupMember = { waitingFor: null, waiters: [], position: 0 };
    const frame: Frame = { tx: this.tx as Executor, ...this.shared, open: true, group: this.state, member: state };
    this.states[i] = state;
    this.frames.push(frame);
    this.running++;
    this.transactions.within(frame, member.fn).then(
      (value) => {
        this.values[i] = value;
        this.settled(state);
      },
      () => {
        fail(frame);
        this.settled(state);
      },
    );
  }

  private settled(state: GroupMember): void {
    for (const [key, holder] of this.state.rows) if (holder === state) this.state.rows.delete(key);
    for (const wake of state.waiters.splice(0)) wake();
    this.running--;
    if (this.running === 0) this.finish();
  }

  private finish(): void {
    this.close();
    this.done?.();
  }

  /** No writer joins any more, and flows that outlive the group's transaction run on the pool. */
  close(): void {
    for (const frame of this.frames) frame.open = false;
    if (this.closed) return;
    this.closed = true;
    this.onClosed();
  }
}

async function settleAlone(member: Member): Promise<void> {
  try {
    member.resolve(await member.alone());
  } catch (error) {
    member.reject(error);
  }
}
