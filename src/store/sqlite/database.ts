import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import * as tables from '../tables.js';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../drizzle', import.meta.url));

export type Db = BetterSQLite3Database<typeof tables>;

export interface OpenedDatabase {
  db: Db;
  sqlite: Database.Database;
  /** The write-ahead log's file, when the database has one (not `:memory:`). */
  walPath: string | null;
  /**
   * Listen to every query the service runs, drizzle's and the store's own SQL (how tests count
   * queries). Transaction control (BEGIN, SAVEPOINT, COMMIT) is not reported.
   */
  onStatement(listener: (sql: string) => void): () => void;
  /**
   * Prepares SQL the store writes by hand for its hot paths, reported to the same listeners.
   * `rows` picks what a row comes as: an object per row, an array of its values in column order,
   * or the first column's value alone.
   */
  prepare<Row = unknown>(sql: string, rows?: 'objects' | 'arrays' | 'first'): Statement<Row>;
  close(): void;
}

/**
 * A prepared statement taking named parameters (`@name` in the SQL, an object) or positional ones
 * (`?`, an array in their order: the hot paths' statements, where better-sqlite3 binds an array
 * faster than it looks each name up in an object, bench/README.md, "SQLite intake, 2026-12-06,
 * late session").
 */
export type Params = Record<string, unknown> | readonly unknown[];
export interface Statement<Row> {
  get(params?: Params): Row | undefined;
  all(params?: Params): Row[];
  run(params?: Params): Database.RunResult;
}

/**
 * Opens the SQLite file (or `:memory:`), sets the durability pragmas and applies every pending
 * migration from `drizzle/`.
 */
export function openDatabase(url: string): OpenedDatabase {
  if (url !== ':memory:') prepareFiles(url);
  const listeners = new Set<(sql: string) => void>();
  // Queries are reported from our side (drizzle's logger, `prepare` below) rather than through
  // better-sqlite3's `verbose` hook, which expands every statement's SQL with its parameters on
  // each run, listened to or not: a measurable share of a webhook delivery's time.
  const report = (sql: string) => {
    for (const listener of listeners) listener(sql);
  };
  const sqlite = new Database(url);
  // `:memory:` (and a file system without shared memory) keep another journal, with no log to flush.
  const journal = sqlite.pragma('journal_mode = WAL', { simple: true });
  // A subscriber is only told what is durable: every commit reaches the disk first.
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  // Statement journals (a savepoint's undo) stay in memory: past 64 KiB
  // SQLite spilled them to a temporary file, written on the event loop (a retention batch, about
  // 560 KB of pages, did: bench/README.md, "Retention, 2026-12-05 session").
  sqlite.pragma('temp_store = MEMORY');
  const db = drizzle(sqlite, {
    schema: tables,
    logger: {
      logQuery(sql) {
        if (listeners.size > 0) report(sql);
      },
    },
  });
  migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  // SQLite gives -wal and -shm the database file's mode when it creates them; ones left by an
  // older version are tightened here.
  if (url !== ':memory:') for (const suffix of ['-wal', '-shm']) restrict(`${url}${suffix}`);
  return {
    db,
    sqlite,
    walPath: journal === 'wal' ? `${url}-wal` : null,
    onStatement(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    prepare<Row>(sql: string, rows: 'objects' | 'arrays' | 'first' = 'objects'): Statement<Row> {
      const statement = sqlite.prepare<unknown[], Row>(sql);
      if (rows === 'arrays') statement.raw();
      else if (rows === 'first') statement.pluck();
      return {
        get(params) {
          if (listeners.size > 0) report(sql);
          return params ? statement.get(params) : statement.get();
        },
        all(params) {
          if (listeners.size > 0) report(sql);
          return params ? statement.all(params) : statement.all();
        },
        run(params) {
          if (listeners.size > 0) report(sql);
          return params ? statement.run(params) : statement.run();
        },
      };
    },
    close() {
      if (sqlite.open) sqlite.close();
    },
  };
}

/**
 * The data directory is created 0700 and the database file 0600 before SQLite opens it: the
 * database holds stream keys and vendor payloads, for this service's user alone.
 */
function prepareFiles(url: string): void {
  mkdirSync(dirname(url), { recursive: true, mode: 0o700 });
  closeSync(openSync(url, 'a', 0o600));
  restrict(url);
}

/** 0600 for a file this process owns (one owned by another user is left as it is). */
function restrict(path: string): void {
  try {
    if (existsSync(path) && (statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  } catch {
    // Not ours to change (a file provided read-only by the operator): SQLite still opens it.
  }
}

/** True when the database answers and every migration in `drizzle/` has been applied. */
export function migrationsApplied(sqlite: Database.Database): boolean {
  const expected = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER }).length;
  const row = sqlite.prepare('select count(*) as n from __drizzle_migrations').get() as { n: number };
  return row.n >= expected;
}
