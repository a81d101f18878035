import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import * as tables from './tables.js';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

export type Db = BetterSQLite3Database<typeof tables>;

export interface OpenedDatabase {
  db: Db;
  sqlite: Database.Database;
  /** Listen to every SQL statement the database runs (how tests count queries). */
  onStatement(listener: (sql: string) => void): () => void;
  close(): void;
}

/**
 * Opens the SQLite file (or `:memory:`), sets the durability pragmas and applies every pending
 * migration from `drizzle/`.
 */
export function openDatabase(url: string): OpenedDatabase {
  if (url !== ':memory:') mkdirSync(dirname(url), { recursive: true });
  const listeners = new Set<(sql: string) => void>();
  const sqlite = new Database(url, {
    verbose: (message) => {
      if (listeners.size === 0) return;
      for (const listener of listeners) listener(String(message));
    },
  });
  sqlite.pragma('journal_mode = WAL');
  // A subscriber is only told what is durable: every commit reaches the disk first.
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const db = drizzle(sqlite, { schema: tables });
  migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  return {
    db,
    sqlite,
    onStatement(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      if (sqlite.open) sqlite.close();
    },
  };
}

/** True when the database answers and every migration in `drizzle/` has been applied. */
export function migrationsApplied(sqlite: Database.Database): boolean {
  const expected = readMigrationFiles({ migrationsFolder: MIGRATIONS_FOLDER }).length;
  const row = sqlite.prepare('select count(*) as n from __drizzle_migrations').get() as { n: number };
  return row.n >= expected;
}
