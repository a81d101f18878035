import type { Database, Statement } from 'better-sqlite3';

/**
 * Transactions of one SQLite connection: nested ones as savepoints, work waiting for the
 * outermost commit, and the group commit of concurrent writers.
 *
 * Transaction control runs through statements prepared once: better-sqlite3's `transaction(fn)`
 * builds a new wrapper on every call, which cost more than the writes of a webhook delivery (two
 * or three of them per delivery). These statements are not reported to `onStatement` listeners.
 */
export class SqliteTransactions {
  /** What waits for the current outermost transaction to commit. */
  private readonly committed: (() => void)[] = [];
  /** Writes waiting for the next group commit. */
  private readonly group: { fn: () => unknown; resolve: (value: unknown) => void; reject: (error: unknown) => void }[] =
    [];
  private readonly control: Record<'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo', Statement>;

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

  /** One write transaction (BEGIN IMMEDIATE), or a savepoint of the one already open. */
  run<T>(fn: () => T): T {
    const sqlite = this.sqlite;
    const control = this.control;
    if (sqlite.inTransaction) {
      // A savepoint: if it rolls back, so does what it left waiting for the commit.
      const mark = this.committed.length;
      control.savepoint.run();
      try {
        const result = fn();
        control.release.run();
        return result;
      } catch (error) {
        this.committed.length = mark;
        // SQLite may already have rolled the whole transaction back (a full disk, say).
        if (sqlite.inTransaction) {
          control.rollbackTo.run();
          control.release.run();
        }
        throw error;
      }
    }
    let result: T;
    control.begin.run();
    try {
      result = fn();
      control.commit.run();
    } catch (error) {
      this.committed.length = 0;
      if (sqlite.inTransaction) control.rollback.run();
      throw error;
    }
    // Committed: every waiting callback runs, even if one of them throws (the first error is rethrown).
    let failure: { error: unknown } | undefined;
    for (const run of this.committed.splice(0)) {
      try {
        run();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
    return result;
  }

  /**
   * Group commit: `fn` runs in a transaction shared with every other `group` asked for in the
   * same turn of the event loop, each in its own savepoint (one failing rolls back only itself),
   * and the promise settles only once that shared transaction has committed. Many concurrent
   * writers then pay for one durable commit (one fsync) instead of one each, and still hear
   * "done" only when their write is durable.
   */
  runGrouped<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.group.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (this.group.length === 1) setImmediate(() => this.commitGroup());
    });
  }

  private commitGroup(): void {
    const batch = this.group.splice(0);
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      this.run(() => {
        for (const item of batch) {
          try {
            outcomes.push({ ok: true, value: this.run(item.fn) });
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
    if (this.sqlite.inTransaction) this.committed.push(fn);
    else fn();
  }
}
