import type {
  AssetStore,
  CallbackStore,
  ChangeLogStore,
  DeliveryStore,
  HistoryStore,
  PollStore,
  RetentionStore,
  RoomStore,
  Store,
  StreamStore,
} from '../types.js';
import { SqliteCallbacks } from './callbacks.js';
import { SqliteChangeLog } from './changelog.js';
import { type Db, migrationsApplied, type OpenedDatabase, openDatabase } from './database.js';
import { SqliteDeliveries } from './deliveries.js';
import { SqliteAssets, SqliteHistory } from './history.js';
import { SqlitePolls } from './polling.js';
import { SqliteRetention } from './retention.js';
import { SqliteRooms } from './rooms.js';
import { SqliteStreams } from './streams.js';
import { SqliteTransactions } from './transactions.js';

/**
 * The store on one SQLite file (WAL, synchronous=FULL, see database.ts), through better-sqlite3:
 * one connection per process, every SQL statement of the service behind it. The sections run
 * synchronously; each is exposed through `gate`, which answers a promise and makes a call from
 * outside the transaction holding the connection wait for it (see transactions.ts).
 */
export class SqliteStore implements Store {
  /** drizzle over the connection (tests read tables through it directly). */
  readonly db: Db;
  readonly streams: StreamStore;
  readonly history: HistoryStore;
  readonly assets: AssetStore;
  readonly deliveries: DeliveryStore;
  readonly polls: PollStore;
  readonly rooms: RoomStore;
  readonly changes: ChangeLogStore;
  readonly retention: RetentionStore;
  readonly callbacks: CallbackStore;
  private readonly opened: OpenedDatabase;
  private readonly transactions: SqliteTransactions;

  constructor(url: string) {
    this.opened = openDatabase(url);
    this.db = this.opened.db;
    const transactions = new SqliteTransactions(this.opened.sqlite);
    this.transactions = transactions;
    const gated = <S>(section: object): S => gate<S>(section, transactions);
    this.streams = gated(new SqliteStreams(this.opened, this.db, this.opened.sqlite));
    this.history = gated(new SqliteHistory(this.opened, this.db));
    this.assets = gated(new SqliteAssets(this.db));
    this.deliveries = gated(new SqliteDeliveries(this.opened, this.db));
    this.polls = gated(new SqlitePolls(this.db, (fn) => transactions.runSync(fn)));
    this.rooms = gated(new SqliteRooms(this.db));
    this.changes = gated(new SqliteChangeLog(this.opened));
    this.retention = gated(new SqliteRetention(this.opened, (fn) => transactions.runSync(fn)));
    this.callbacks = gated(new SqliteCallbacks(this.db, (fn) => transactions.runSync(fn)));
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
      return this.opened.sqlite.open && migrationsApplied(this.opened.sqlite);
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.opened.close();
  }
}

/**
 * The asynchronous face of a synchronous section: each public method of its class, answering a
 * promise through `transactions.call`. The section classes mirror the interface with plain
 * (synchronous) answers; the interface's generic signatures cannot be derived from them by a
 * mapped type, hence the cast, and test/store-*.test.ts exercise every method through this face.
 */
function gate<S>(section: object, transactions: SqliteTransactions): S {
  const face: Record<string, unknown> = {};
  const prototype = Object.getPrototypeOf(section) as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(prototype)) {
    const method = prototype[name];
    if (name === 'constructor' || typeof method !== 'function') continue;
    face[name] = (...args: unknown[]) => transactions.call(() => method.apply(section, args));
  }
  return face as S;
}
