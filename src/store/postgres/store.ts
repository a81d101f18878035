import { drizzle } from 'drizzle-orm/node-postgres';
import type pg from 'pg';
import type { Logger } from 'pino';
import { StoreBase, type StoreSections } from '../sections.js';
import type { LocalCommit, Store } from '../types.js';
import { PgCallbacks } from './callbacks.js';
import { PgChangeLog } from './changelog.js';
import { answers, createPool, migratePostgres, type PostgresConfig, type PostgresDb } from './connect.js';
import { PgDeliveries } from './deliveries.js';
import { classify, isDeadlock, isUniqueViolation } from './errors.js';
import { GROUPS_IN_FLIGHT, GroupCommit } from './group.js';
import { PgAssets, PgHistory } from './history.js';
import { PgPolls } from './polling.js';
import { PgRetention } from './retention.js';
import { PgRooms } from './rooms.js';
import { PgStreams } from './streams.js';
import * as tables from './tables.js';
import { PgTransactions } from './transactions.js';

/** How many times a transaction PostgreSQL chose as a deadlock's victim is run in all. */
const DEADLOCK_ATTEMPTS = 3;

/**
 * The store on PostgreSQL (`DATABASE_URL=postgres://…`), for several replicas on one database:
 * a pool per replica (node-postgres), drizzle for every statement, migrations from
 * `drizzle/postgres/` applied at construction under an advisory lock (`open` settles once they
 * are). Every call waits for them, and a database that cannot be reached answers
 * StoreUnavailableError (GraphQL `UNAVAILABLE`, a webhook 503) until it can again: the pool opens
 * new connections by itself.
 */
export class PostgresStore extends StoreBase implements Store {
  /** drizzle over the pool (tests read tables through it directly). */
  readonly db: PostgresDb;
  readonly pool: pg.Pool;
  /** The group commit's own connections (pipelined), one per group in flight. */
  private readonly groupPool: pg.Pool;
  private readonly migrated: Promise<void>;
  private readonly transactions: PgTransactions;
  private readonly groups: GroupCommit;
  private readonly listeners = new Set<(sql: string) => void>();
  private closing?: Promise<void>;

  constructor(config: PostgresConfig, logger: Logger) {
    super();
    this.pool = createPool(config, logger);
    this.groupPool = createPool(config, logger, GROUPS_IN_FLIGHT);
    const listeners = this.listeners;
    const statements = {
      logQuery(sql: string) {
        for (const listener of listeners) listener(sql);
      },
    };
    this.db = drizzle({ client: this.pool, schema: tables, logger: statements });
    this.migrated = migratePostgres(this.pool);
    // Awaited by `open` and by every call; not an unhandled rejection meanwhile.
    this.migrated.catch(() => {});
    const transactions = new PgTransactions(this.db);
    this.transactions = transactions;
    this.groups = new GroupCommit(
      this.groupPool,
      transactions,
      (client) => drizzle({ client, schema: tables, logger: statements }),
      (sql) => statements.logQuery(sql),
    );
    const x = () => transactions.executor();
    const gated = <S>(section: object): S => gate<S>(section, this.migrated, () => this.closing !== undefined);
    const streams = new PgStreams(
      x,
      () => transactions.rowLock(),
      (key) => transactions.hold(key),
    );
    Object.assign(this, {
      streams: gated(streams),
      history: gated(
        new PgHistory(
          x,
          (fn) => transactions.run(fn),
          () => transactions.inTransaction(),
          (position) => transactions.wrote(position),
          () => transactions.holdsChangeLogLock(),
          (kind, id, patch) => streams.update(kind, id, patch),
          () => transactions.groupBatch(),
        ),
      ),
      assets: gated(new PgAssets(x)),
      deliveries: gated(
        new PgDeliveries(
          x,
          () => transactions.rowLock(),
          (key) => transactions.hold(key),
          (kind, provider, externalId) => streams.findByExternalId(kind, provider, externalId),
          () => transactions.groupBatch(),
        ),
      ),
      polls: gated(new PgPolls(x)),
      rooms: gated(new PgRooms(x)),
      changes: gated(new PgChangeLog(x)),
      retention: gated(new PgRetention(x, (fn) => transactions.run(fn))),
      callbacks: gated(new PgCallbacks(x, (fn) => transactions.run(fn))),
    } satisfies StoreSections);
  }

  /** Settles once the migrations are applied (rejects when they could not be). */
  open(): Promise<void> {
    return this.migrated;
  }

  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closing) throw new Error('The database connection is closed');
    await this.migrated;
    const outermost = !this.transactions.inTransaction();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.transactions.run(fn);
      } catch (error) {
        // Two writers each holding what the other waits for (a stream row, the change-log lock):
        // PostgreSQL rolls one back. Nothing of it was kept or published, so it runs again.
        if (outermost && attempt < DEADLOCK_ATTEMPTS && isDeadlock(error)) continue;
        throw classify(error);
      }
    }
  }

  /**
   * A group commit (group.ts): concurrent callers share one transaction, one change-log lock and
   * one WAL flush. Inside a transaction already, a savepoint of it.
   */
  async groupTransaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.transactions.inTransaction()) return this.transaction(fn);
    if (this.closing) throw new Error('The database connection is closed');
    await this.migrated;
    return this.groups.run(fn, (alone) => this.transaction(alone));
  }

  afterCommit(fn: () => void): void {
    this.transactions.afterCommit(fn);
  }

  isUniqueViolation(error: unknown): boolean {
    return isUniqueViolation(error);
  }

  onStatement(listener: (sql: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onLocalCommit(listener: (commit: LocalCommit) => void): () => void {
    this.groups.commitListeners.add(listener);
    return () => this.groups.commitListeners.delete(listener);
  }

  async isReady(): Promise<boolean> {
    if (this.closing) return false;
    const migrated = await this.migrated.then(
      () => true,
      () => false,
    );
    return migrated && answers(this.pool, 1000);
  }

  close(): Promise<void> {
    this.closing ??= Promise.all([this.pool.end(), this.groupPool.end()]).then(() => {});
    return this.closing;
  }
}

/**
 * The section's methods, each waiting for the migrations and answering StoreUnavailableError
 * when the database cannot be reached (every other error as it was: a unique violation stays one).
 */
function gate<S>(section: object, migrated: Promise<void>, closed: () => boolean): S {
  const face: Record<string, unknown> = {};
  const prototype = Object.getPrototypeOf(section) as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(prototype)) {
    const method = prototype[name];
    if (name === 'constructor' || typeof method !== 'function') continue;
    face[name] = async (...args: unknown[]) => {
      if (closed()) throw new Error('The database connection is closed');
      await migrated;
      try {
        return await method.apply(section, args);
      } catch (error) {
        throw classify(error);
      }
    };
  }
  return face as S;
}
