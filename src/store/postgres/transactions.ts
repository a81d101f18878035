import { AsyncLocalStorage } from 'node:async_hooks';
import type { NodePgQueryResultHKT } from 'drizzle-orm/node-postgres';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import { StoreUnavailableError } from '../../domain/errors.js';
import type { PostgresDb } from './connect.js';
import type * as tables from './tables.js';

/** What runs a statement: the pool (outside a transaction) or a transaction's (savepoint's) client. */
export type Executor = PgDatabase<NodePgQueryResultHKT, typeof tables>;

/** The transaction an async flow runs in (found through AsyncLocalStorage). */
interface Frame {
  tx: Executor;
  /** What waits for the outermost transaction to commit (shared by its savepoints). */
  committed: (() => void)[];
  /** Change-log positions the transaction wrote (shared by its savepoints). */
  positions: number[];
  /** False once `fn` settled: a flow that outlives its transaction runs on the pool again. */
  open: boolean;
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
  private readonly order = new CommitOrder();

  constructor(private readonly db: PostgresDb) {}

  /** The client the calling flow's statements run on. */
  executor(): Executor {
    const frame = this.flow.getStore();
    return frame?.open ? frame.tx : this.db;
  }

  inTransaction(): boolean {
    return this.flow.getStore()?.open === true;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const outer = this.flow.getStore();
    if (outer?.open) return this.savepoint(outer, fn);
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

  /** The calling flow's transaction wrote change-log position `position` (see CommitOrder). */
  wrote(position: number): void {
    const frame = this.flow.getStore();
    if (!frame?.open) return;
    frame.positions.push(position);
    this.order.begin(position);
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
    if (frame?.open) frame.committed.push(fn);
    else fn();
  }
}

/**
 * What waits for commits that wrote change-log positions runs in position order within this
 * process. The change-log lock makes PostgreSQL commit them in position order, but the commit
 * acknowledgements of two connections may reach this process in either order: a transaction
 * whose position is higher than one still in flight here waits for it to settle (committed or
 * rolled back), so subscribers of this process are told changes in log order, as on SQLite.
 */
class CommitOrder {
  /** Positions written by transactions that have not settled yet. */
  private readonly inFlight = new Set<number>();
  /** Committed transactions waiting for a lower position still in flight, by their highest position. */
  private readonly waiting: { position: number; committed: (() => void)[] }[] = [];

  begin(position: number): void {
    this.inFlight.add(position);
  }

  /** The transaction that wrote `positions` settled: `committed` (null on rollback) runs in its turn. */
  settle(positions: readonly number[], committed: (() => void)[] | null): void {
    for (const position of positions) this.inFlight.delete(position);
    if (committed && committed.length > 0) {
      this.waiting.push({ position: Math.max(...positions), committed });
      this.waiting.sort((a, b) => a.position - b.position);
    }
    let floor = Number.POSITIVE_INFINITY;
    for (const position of this.inFlight) floor = Math.min(floor, position);
    while (this.waiting.length > 0 && (this.waiting[0] as { position: number }).position < floor) {
      const next = this.waiting.shift() as { committed: (() => void)[] };
      try {
        flush(next.committed);
      } catch {
        // One subscriber's failure is its own: the others are still told.
      }
    }
  }
}

/** Committed: every waiting callback runs, even if one of them throws (the first error is rethrown). */
function flush(committed: (() => void)[]): void {
  let failure: { error: unknown } | undefined;
  for (const run of committed) {
    try {
      run();
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND']);
const CONNECTION_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'connection error',
  'not queryable',
];

/**
 * True when `error` (or what it wraps: drizzle wraps the driver's error) says the database could
 * not be reached or dropped the connection: a network error, SQLSTATE class 08 (connection
 * exception), a server shutting down or not accepting connections (57P01-57P03), or a statement
 * cancelled by `statement_timeout` (57014). Nothing of such a statement was committed.
 */
export function isUnreachable(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    if (current instanceof StoreUnavailableError) return true;
    if (typeof current !== 'object') return false;
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === 'string') {
      if (CONNECTION_CODES.has(code) || code.startsWith('08') || /^57P0[123]$/.test(code) || code === '57014') {
        return true;
      }
    }
    if (typeof message === 'string' && CONNECTION_MESSAGES.some((text) => message.includes(text))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** A database that cannot be reached becomes StoreUnavailableError; every other error stays as it is. */
export function classify(error: unknown): unknown {
  if (error instanceof StoreUnavailableError) return error;
  return isUnreachable(error) ? new StoreUnavailableError({ cause: error }) : error;
}

/** True when `error` (or what it wraps) carries SQLSTATE `code`. */
function hasCode(error: unknown, code: string): boolean {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    if ((current as { code?: unknown }).code === code) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** PostgreSQL's unique violation (SQLSTATE 23505). */
export function isUniqueViolation(error: unknown): boolean {
  return hasCode(error, '23505');
}

/** PostgreSQL rolled the transaction back to break a deadlock (SQLSTATE 40P01). */
export function isDeadlock(error: unknown): boolean {
  return hasCode(error, '40P01');
}
