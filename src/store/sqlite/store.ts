import { StoreBase, type StoreSections } from '../sections.js';
import type { Store } from '../types.js';
import { BackgroundWrites } from './background.js';
import { SqliteCallbacks } from './callbacks.js';
import { SqliteChangeLog } from './changelog.js';
import { Checkpointer } from './checkpointer.js';
import { type Db, migrationsApplied, type OpenedDatabase, openDatabase } from './database.js';
import { SqliteDeliveries } from './deliveries.js';
import { SqliteAssets, SqliteHistory } from './history.js';
import { SqlitePolls } from './polling.js';
import { SqliteRetention } from './retention.js';
import { SqliteRooms } from './rooms.js';
import { SqliteStreams } from './streams.js';
import { SqliteTransactions } from './transactions.js';
import { WalSync } from './wal-sync.js';

/**
 * The store on one SQLite file (WAL, synchronous=FULL, see database.ts), through better-sqlite3:
 * one connection per process, every SQL statement of the service behind it. The sections run
 * synchronously; each is exposed through `gate`, which answers a promise and makes a call from
 * outside the transaction holding the connection wait for it (see transactions.ts).
 */
export class SqliteStore extends StoreBase implements Store {
  /** drizzle over the connection (tests read tables through it directly). */
  readonly db: Db;
  private readonly opened: OpenedDatabase;
  private readonly transactions: SqliteTransactions;
  private readonly wal: WalSync;
  private readonly checkpointer: Checkpointer | null;
  private readonly background: BackgroundWrites;

  /**
   * `inlineFlushLimitMs`: the longest a group commit may flush inside COMMIT, on the event loop,
   * before group commits flush off it (`WalSync.flushInline`); 0: always off it (tests of that path).
   */
  constructor(url: string, options: { inlineFlushLimitMs?: number } = {}) {
    super();
    this.opened = openDatabase(url);
    this.db = this.opened.db;
    this.wal = new WalSync(this.opened.walPath, options.inlineFlushLimitMs);
    this.checkpointer = this.opened.walPath === null ? null : new Checkpointer(url);
    const transactions = new SqliteTransactions(this.opened.sqlite, this.wal);
    this.transactions = transactions;
    this.background = new BackgroundWrites(transactions, this.opened.sqlite, this.wal, this.checkpointer);
    const gated = <S>(section: object, name = ''): S => gate<S>(section, transactions, ANSWERED_AT_ONCE[name]);
    const streams = new SqliteStreams(this.opened, this.db, this.opened.sqlite);
    Object.assign(this, {
      streams: gated(streams, 'streams'),
      history: gated(new SqliteHistory(this.opened, this.db, streams), 'history'),
      assets: gated(new SqliteAssets(this.db)),
      deliveries: gated(
        new SqliteDeliveries(this.opened, this.db, (kind, provider, externalId) =>
          streams.findByExternalId(kind, provider, externalId),
        ),
        'deliveries',
      ),
      polls: gated(new SqlitePolls(this.db, (fn) => transactions.runSync(fn))),
      rooms: gated(new SqliteRooms(this.db)),
      changes: gated(new SqliteChangeLog(this.opened)),
      retention: this.background.retention(gated(new SqliteRetention(this.opened, (fn) => transactions.runSync(fn)))),
      callbacks: gated(new SqliteCallbacks(this.db, (fn) => transactions.runSync(fn))),
    } satisfies StoreSections);
  }

  transaction<T>(fn: () => Promise<T>): Promise<T> {
    return this.transactions.run(fn);
  }

  groupTransaction<T>(fn: () => Promise<T>): Promise<T> {
    return this.transactions.runGrouped(fn);
  }

  afterCommit(fn: () => void): void {
    this.transactions.afterCommit(fn);
  }

  isUniqueViolation(error: unknown): boolean {
    return typeof error === 'object' && error !== null && 'code' in error && error.code === 'SQLITE_CONSTRAINT_UNIQUE';
  }

  onStatement(listener: (sql: string) => void): () => void {
    return this.opened.onStatement(listener);
  }

  async isReady(): Promise<boolean> {
    try {
      return this.opened.sqlite.open && !this.wal.failure && migrationsApplied(this.opened.sqlite);
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.background.close();
    await this.checkpointer?.close();
    await this.wal.close();
    this.opened.close();
  }
}

/** Methods whose interface allows a plain answer (`Store` in types.ts), by section: they answer one when they can. */
const ANSWERED_AT_ONCE: Readonly<Record<string, ReadonlySet<string>>> = {
  streams: new Set(['listActive', 'get', 'findByExternalId', 'findOpenInRoom']),
  history: new Set(['append', 'appendChange', 'has']),
  deliveries: new Set(['record', 'recordFinding']),
};
const NONE: ReadonlySet<string> = new Set();

/**
 * The asynchronous face of a synchronous section: each public method of its class, answering a
 * promise through `transactions.call`. The section classes mirror the interface with plain
 * (synchronous) answers; the interface's generic signatures cannot be derived from them by a
 * mapped type, hence the cast, and test/store-*.test.ts exercise every method through this face.
 */
function gate<S>(section: object, transactions: SqliteTransactions, atOnce: ReadonlySet<string> = NONE): S {
  const face: Record<string, unknown> = {};
  const prototype = Object.getPrototypeOf(section) as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(prototype)) {
    const method = prototype[name];
    if (name === 'constructor' || typeof method !== 'function') continue;
    face[name] = atOnce.has(name)
      ? (...args: unknown[]) => transactions.callNow(() => method.apply(section, args))
      : (...args: unknown[]) => transactions.call(() => method.apply(section, args));
  }
  return face as S;
}
