import { AsyncLocalStorage } from 'node:async_hooks';
import type { Database, Statement } from 'better-sqlite3';
import { type Attempt, GroupCommit, unguarded, unguardedSync } from './group.js';
import type { WalSync } from './wal-sync.js';

/** The transaction an async flow holds the connection for (found through AsyncLocalStorage). */
interface Frame {
  /** False once the outermost transaction settled: a flow that outlives it holds nothing. */
  open: boolean;
  /** Set in a group commit's attempt: nested transactions take no savepoint (group.ts). */
  attempt?: Attempt;
}

/**
 * Transactions of one SQLite connection: nested ones as savepoints, work waiting for the
 * outermost commit, and the group commit of concurrent writers.
 *
 * A transaction is asynchronous (its work awaits), so it holds the connection until it settles:
 * the outermost one of each async flow takes the connection in turn (a FIFO queue), and the flow
 * it runs in is marked with AsyncLocalStorage, so a nested `run` from that same flow is a
 * savepoint (not in a group commit's member: group.ts) while another flow's `run`, or a single
 * statement outside any transaction (`call`), waits its turn. Nested calls of one flow run one
 * after another (awaited), never concurrently.
 *
 * The queue is hand-written rather than p-limit/p-queue: `call` needs to know synchronously whether
 * the connection is free or held by the calling flow, to answer a read without queueing (most
 * calls, by far, find the connection free).
 *
 * Transaction control runs through statements prepared once: better-sqlite3's `transaction(fn)`
 * builds a new wrapper on every call, which cost more than the writes of a webhook delivery (two
 * or three of them per delivery). These statements are not reported to `onStatement` listeners.
 *
 * Durability: every commit is flushed (`synchronous=FULL`) except the group commit's, which
 * commits with `synchronous=NORMAL` and is made durable by `WalSync` off the event loop. Until
 * that flush ends, what the group wrote is invisible to everyone but later transactions: a call
 * from outside a transaction waits for it, the group's members hear of their commit only then,
 * and what waits for commits runs in commit order, each commit's callbacks once it is durable.
 */
export class SqliteTransactions {
  /** What waits for the current outermost transaction to commit. */
  private readonly committed: (() => void)[] = [];
  /** Writes waiting for the next group commit, and its attempts. */
  private readonly group = new GroupCommit((fn, attempt) => {
    this.lastGroupAt = performance.now();
    return this.outermost(fn, true, false, attempt);
  });
  /** When a group commit last began (`performance.now()`): background writes pace themselves after it. */
  lastGroupAt = Number.NEGATIVE_INFINITY;
  private readonly control: Record<'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo', Statement>;
  private readonly flow = new AsyncLocalStorage<Frame>();
  /** True while an async transaction holds the connection. */
  private held = false;
  /** Flows waiting for the connection, first come first served. */
  private readonly waiting: (() => void)[] = [];
  /** Commits not yet durable (a group's, its log flush running) or waiting for one that is not. */
  private undurable = 0;
  /** Settles once every commit so far is durable and its callbacks have run (in commit order). */
  private durable: Promise<void> = Promise.resolve();
  private readonly relaxed: { normal: Statement; full: Statement };
  /** Background writes (`runWhenIdle`) waiting for the service's writers to be done. */
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly sqlite: Database,
    private readonly wal: WalSync,
  ) {
    this.relaxed = {
      normal: sqlite.prepare('PRAGMA synchronous = NORMAL'),
      full: sqlite.prepare('PRAGMA synchronous = FULL'),
    };
    this.control = {
      begin: sqlite.prepare('BEGIN IMMEDIATE'),
      commit: sqlite.prepare('COMMIT'),
      rollback: sqlite.prepare('ROLLBACK'),
      // Nested savepoints may share a name: RELEASE and ROLLBACK TO act on the innermost.
      savepoint: sqlite.prepare('SAVEPOINT apply'),
      release: sqlite.prepare('RELEASE apply'),
      rollbackTo: sqlite.prepare('ROLLBACK TO apply'),
    };
  }

  /** True when the calling flow runs inside the transaction that holds the connection. */
  private inside(): boolean {
    return this.held && this.flow.getStore()?.open === true;
  }

  /**
   * One store call outside `run`'s control: at once when the connection is free or held by the
   * calling flow, else once the transaction holding it has settled (so it neither reads another
   * flow's uncommitted writes nor joins its transaction).
   */
  call<T>(fn: () => T): Promise<T> {
    if (this.wal.failure) return Promise.reject(this.wal.failure);
    if (this.free()) {
      try {
        return Promise.resolve(fn());
      } catch (error) {
        return Promise.reject(error);
      }
    }
    // Holding the connection while the last commits become durable: nothing newer commits meanwhile,
    // so the call reads only what is durable, and a stream of group commits cannot starve it.
    return this.exclusive(async () => {
      if (this.undurable > 0) await this.durable;
      return fn();
    });
  }

  /**
   * `call` answering without a promise when it can answer at once (its error then thrown), for
   * the reads of the query path: a resolver answering a plain value keeps graphql's execution
   * synchronous, a dozen promises and microtask turns fewer per request (bench/README.md, "Query
   * throughput, 2026-12-05 session").
   */
  callNow<T>(fn: () => T): T | Promise<T> {
    return this.free() && !this.wal.failure ? fn() : this.call(fn);
  }

  /**
   * True when a call may run at once: the connection is free and every commit on it durable, or it
   * is held by the calling flow.
   */
  private free(): boolean {
    return (!this.held && this.waiting.length === 0 && this.undurable === 0) || this.inside();
  }

  /** Runs `fn` holding the connection (no transaction opened), releasing it when `fn` settles. */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.held || this.waiting.length > 0) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.held = true;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else {
        this.held = false;
        // Nobody holds the connection, so no flow is inside a transaction: AsyncLocalStorage's
        // promise hooks (paid by every promise of the process while on) are switched off until the
        // next transaction's `flow.run` switches them on again (bench/README.md, "SQLite intake,
        // 2026-12-05 evening session"). Frames left on older resources are closed (`open` false).
        this.flow.disable();
        this.wake();
      }
    }
  }

  /**
   * One write transaction (BEGIN IMMEDIATE), or a savepoint of the one the calling flow holds;
   * inside a group commit's member, neither: `fn` runs in the group's transaction and its failure
   * fails the group's attempt (group.ts).
   */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const frame = this.held ? this.flow.getStore() : undefined;
    if (frame?.open !== true) return this.outermost(fn, false);
    return frame.attempt ? unguarded(frame.attempt, fn) : this.savepoint(fn);
  }

  /**
   * The outermost transaction. `grouped` (the group commit): committed without a flush, which
   * `WalSync` does off the event loop, unless flushes inside COMMIT are quick (`flushInline`);
   * settles once it is durable. `background` (retention's batches): always flushed off the loop.
   */
  private async outermost<T>(
    fn: () => Promise<T>,
    grouped: boolean,
    background = false,
    attempt?: Attempt,
  ): Promise<T> {
    if (this.wal.failure) throw this.wal.failure;
    const frame: Frame = { open: true, attempt };
    // A background write (retention's batch, dozens of log pages) never flushes on the event loop.
    const inline = grouped && !background && this.wal.flushInline();
    const relax = grouped && !inline && this.wal.enabled;
    let callbacks: (() => void)[] = [];
    let durable: Promise<void> | undefined;
    let result: T;
    try {
      result = await this.exclusive(async () => {
        // The safety level cannot change inside a transaction: set around it, holding the connection.
        if (relax) this.relaxed.normal.run();
        try {
          this.control.begin.run();
          const value = await this.flow.run(frame, fn);
          if (inline) {
            const began = performance.now();
            this.control.commit.run();
            this.wal.flushedInline(performance.now() - began);
          } else this.control.commit.run();
          callbacks = this.committed.splice(0);
          // Ordered before anyone else can commit or read (the connection is still held).
          if (relax || this.undurable > 0) durable = this.inCommitOrder(callbacks, relax ? this.wal.sync() : undefined);
          return value;
        } catch (error) {
          this.committed.length = 0;
          if (this.sqlite.inTransaction) this.control.rollback.run();
          throw error;
        } finally {
          frame.open = false;
          if (relax) this.relaxed.full.run();
        }
      });
    } catch (error) {
      // What it read may come from a commit not yet durable: its failure waits for that too.
      if (this.undurable > 0) await this.durable;
      throw error;
    }
    if (durable) await durable;
    else flush(callbacks);
    return result;
  }

  /**
   * A commit's callbacks, run once it and every commit before it are durable, in commit order. A
   * flushed commit (`flushed` undefined) needs only the earlier ones: its flush covered them too,
   * but their callbacks come first.
   */
  private inCommitOrder(callbacks: readonly (() => void)[], flushed: Promise<void> | undefined): Promise<void> {
    this.undurable++;
    const turn = this.durable.then(() => flushed).then(() => flush(callbacks));
    const settled = () => {
      this.undurable--;
      this.wake();
    };
    this.durable = turn.then(settled, settled);
    return turn;
  }

  private async savepoint<T>(fn: () => Promise<T>): Promise<T> {
    // If it rolls back, so does what it left waiting for the commit.
    const mark = this.committed.length;
    this.control.savepoint.run();
    try {
      const result = await fn();
      this.control.release.run();
      return result;
    } catch (error) {
      this.committed.length = mark;
      // SQLite may already have rolled the whole transaction back (a full disk, say).
      if (this.sqlite.inTransaction) {
        this.control.rollbackTo.run();
        this.control.release.run();
      }
      throw error;
    }
  }

  /**
   * A synchronous transaction for one statement group of the store itself (a poll claim), run
   * inside a `call`: a savepoint when the calling flow's transaction is open (none in a group
   * commit's member, as `run`).
   */
  runSync<T>(fn: () => T): T {
    const control = this.control;
    if (this.sqlite.inTransaction) {
      const frame = this.flow.getStore();
      if (frame?.open && frame.attempt) return unguardedSync(frame.attempt, fn);
      control.savepoint.run();
      try {
        const result = fn();
        control.release.run();
        return result;
      } catch (error) {
        if (this.sqlite.inTransaction) {
          control.rollbackTo.run();
          control.release.run();
        }
        throw error;
      }
    }
    control.begin.run();
    try {
      const result = fn();
      control.commit.run();
      return result;
    } catch (error) {
      if (this.sqlite.inTransaction) control.rollback.run();
      throw error;
    }
  }

  /**
   * Group commit: `fn` runs in a transaction shared with every other `group` asked for in the
   * same turn of the event loop, and the promise settles only once that shared transaction has
   * committed (see group.ts).
   */
  runGrouped<T>(fn: () => Promise<T>): Promise<T> {
    return this.group.run(fn);
  }

  /**
   * A background write (retention's batch) that yields to the service's writers: it runs once no
   * writer is queued, holds the connection or waits for its flush, alone in its own transaction,
   * committed without a flush inside COMMIT and made durable by `WalSync` off the event loop, as a
   * group is. So a webhook never shares a group with it (its CPU and its larger flush) and waits
   * behind one such write at most. It yields at most YIELDS_AT_MOST times (a release or a durable
   * commit each), so that writers that never stop do not starve it (bench/README.md, "Retention,
   * 2026-12-05, night session").
   */
  async runWhenIdle<T>(fn: () => Promise<T>): Promise<T> {
    for (let turn = 0; turn < YIELDS_AT_MOST; turn++) {
      // Writers that arrived in this turn of the event loop queue their group first.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.idle()) break;
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    return this.outermost(fn, true, true);
  }

  /** Nobody writes: no group queued, the connection free, every commit durable. */
  private idle(): boolean {
    return !this.held && this.waiting.length === 0 && !this.group.queued && this.undurable === 0;
  }

  /** A writer released the connection or a commit became durable: background writes look again. */
  private wake(): void {
    if (this.idleWaiters.length === 0) return; // the intake's path: no array made per release
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Runs `fn` once the current transaction has committed (at once outside one); dropped on rollback. */
  afterCommit(fn: () => void): void {
    if (this.inside()) this.committed.push(fn);
    else fn();
  }
}

/** How many writer events (a release, a durable commit) a background write lets pass before it runs anyway. */
const YIELDS_AT_MOST = 4;

/** Committed: every waiting callback runs, even if one of them throws (the first error is rethrown). */
function flush(callbacks: readonly (() => void)[]): void {
  let failure: { error: unknown } | undefined;
  for (const run of callbacks) {
    try {
      run();
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}
