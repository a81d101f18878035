import type { Store } from '../types.js';
import { SqliteChangeLog } from './changelog.js';
import { type Db, migrationsApplied, type OpenedDatabase, openDatabase } from './database.js';
import { SqliteDeliveries } from './deliveries.js';
import { SqliteAssets, SqliteHistory } from './history.js';
import { SqlitePolls } from './polling.js';
import { SqliteRooms } from './rooms.js';
import { SqliteStreams } from './streams.js';
import { SqliteTransactions } from './transactions.js';

/**
 * The store on one SQLite file (WAL, synchronous=FULL, see database.ts), through better-sqlite3:
 * synchronous, one connection per process, every SQL statement of the service behind it.
 */
export class SqliteStore implements Store {
  /** drizzle over the connection (tests read tables through it directly). */
  readonly db: Db;
  readonly streams: SqliteStreams;
  readonly history: SqliteHistory;
  readonly assets: SqliteAssets;
  readonly deliveries: SqliteDeliveries;
  readonly polls: SqlitePolls;
  readonly rooms: SqliteRooms;
  readonly changes: SqliteChangeLog;
  private readonly opened: OpenedDatabase;
  private readonly transactions: SqliteTransactions;

  constructor(url: string) {
    this.opened = openDatabase(url);
    this.db = this.opened.db;
    this.transactions = new SqliteTransactions(this.opened.sqlite);
    this.streams = new SqliteStreams(this.opened, this.db, this.opened.sqlite);
    this.history = new SqliteHistory(this.opened, this.db);
    this.assets = new SqliteAssets(this.db);
    this.deliveries = new SqliteDeliveries(this.opened, this.db);
    this.polls = new SqlitePolls(this.db, (fn) => this.transactions.run(fn));
    this.rooms = new SqliteRooms(this.db);
    this.changes = new SqliteChangeLog(this.opened);
  }

  transaction<T>(fn: () => T): T {
    return this.transactions.run(fn);
  }

  groupTransaction<T>(fn: () => T): Promise<T> {
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

  isReady(): boolean {
    try {
      return this.opened.sqlite.open && migrationsApplied(this.opened.sqlite);
    } catch {
      return false;
    }
  }

  close(): void {
    this.opened.close();
  }
}
