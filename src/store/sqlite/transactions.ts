import { AsyncLocalStorage } from 'node:async_hooks';
import type { Database, Statement } from 'better-sqlite3';

/** The transaction an async flow holds the connection for (found through AsyncLocalStorage). */
interface Frame {
  /** False once the outermost transaction settled: a flow that outlives it holds nothing. */
  open: boolean;
}

/**
 * Transactions of one SQLite connection: nested ones as savepoints, work waiting for the
 * outermost commit, and the group commit of concurrent writers.
 *
 * A transaction is asynchronous (its work awaits), so it holds the connection until it settles:
 * the outermost one of each async flow takes the connection in turn (a FIFO queue), and the flow
 * it runs in is marked with AsyncLocalStorage, so a nested `run` from that same flow is a
 * savepoint while another flow's `run`, or a single statement outside any transaction (`call`),
 * waits its turn. Nested calls of one flow run one after another (awaited), never concurrently.
 *
 * The queue is hand-written rather than p-limit/p-queue: `call` needs to know synchronously whether
 * the connection is free or held by the calling flow, to answer a read without queueing (most
 * calls, by far, find the connection free).
 *
 * Transaction control runs through statements prepared once: better-sqlite3's `transaction(fn)`
 * builds a new wrapper on every call, which cost more than the writes of a webhook delivery (two
 * or three of them per delivery). These statements are not reported to `onStatement` listeners.
 */
export class SqliteTransactions {
  /** What waits for the current outermost transaction to commit. */
  private readonly committed: (() => void)[] = [];
  /** Writes waiting for the next group commit. */
  private readonly group: {
    fn: () => Promise<unknown>;
    resolve: (value: unknown) => void;
    reject: (error: unknown) => void;
  }[] = [];
  private readonly control: Record<'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo', Statement>;
  private readonly flow = new AsyncLocalStorage<Frame>();
  /** True while an async transaction holds the connection. */
  private held = false;
  /** Flows waiting for the connection, first come first served. */
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly sqlite: Database) {
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
    if (this.free()) {
      try {
        return Promise.resolve(fn());
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.exclusive(async () => fn());
  }

  /**
   * `call` answering without a promise when it can answer at once (its error then thrown), for
   * the reads of the query path: a resolver answering a plain value keeps graphql's execution
   * synchronous, a dozen promises and microtask turns fewer per request (bench/README.md, "Query
   * throughput, 2026-12-05 session").
   */
  callNow<T>(fn: () => T): T | Promise<T> {
    return this.free() ? fn() : this.exclusive(async () => fn());
  }

  /** True when a call may run at once: the connection is free, or held by the calling flow. */
  private free(): boolean {
    return (!this.held && this.waiting.length === 0) || this.inside();
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
      else this.held = false;
    }
  }

  /** One write transaction (BEGIN IMMEDIATE), or a savepoint of the one the calling flow holds. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inside()) return this.savepoint(fn);
    const frame: Frame = { open: true };
    const result = await this.exclusive(async () => {
      this.control.begin.run();
      try {
        const value = await this.flow.run(frame, fn);
        this.control.commit.run();
        return value;
      } catch (error) {
        this.committed.length = 0;
        if (this.sqlite.inTransaction) this.control.rollback.run();
        throw error;
      } finally {
        frame.open = false;
      }
    });
    this.flushCommitted();
    return result;
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
   * inside a `call`: a savepoint when the calling flow's transaction is open.
   */
  runSync<T>(fn: () => T): T {
    const control = this.control;
    if (this.sqlite.inTransaction) {
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

  /** Committed: every waiting callback runs, even if one of them throws (the first error is rethrown). */
  private flushCommitted(): void {
    if (this.committed.length === 0) return;
    let failure: { error: unknown } | undefined;
    for (const run of this.committed.splice(0)) {
      try {
        run();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }

  /**
   * Group commit: `fn` runs in a transaction shared with every other `group` asked for in the
   * same turn of the event loop, each in its own savepoint (one failing rolls back only itself),
   * and the promise settles only once that shared transaction has committed. Many concurrent
   * writers then pay for one durable commit (one fsync) instead of one each, and still hear
   * "done" only when their write is durable.
   */
  runGrouped<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.group.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (this.group.length === 1) setImmediate(() => void this.commitGroup());
    });
  }

  private async commitGroup(): Promise<void> {
    const batch = this.group.splice(0);
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      await this.run(async () => {
        for (const item of batch) {
          try {
            outcomes.push({ ok: true, value: await this.savepoint(item.fn) });
          } catch (error) {
            outcomes.push({ ok: false, value: error });
          }
        }
      });
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok) item.resolve(outcome.value);
      else item.reject(outcome?.value);
    });
  }

  /** Runs `fn` once the current transaction has committed (at once outside one); dropped on rollback. */
  afterCommit(fn: () => void): void {
    if (this.inside()) this.committed.push(fn);
    else fn();
  }
}
