import { fileURLToPath } from 'node:url';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import type { Logger } from 'pino';
import type { DatabaseConfig } from '../../config.js';
import { batchWritesPerTurn } from './pipeline.js';
import * as tables from './tables.js';

export const POSTGRES_MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../drizzle/postgres', import.meta.url));

/**
 * Session advisory lock key under which migrations run, so replicas booting together apply them
 * once (the others wait, then find nothing left to do). Distinct from the change-log lock.
 */
export const MIGRATION_LOCK_KEY = 0x6c69_7665_6d69_6772n; // "livemigr"

/** Transaction advisory lock key every writer of applied history rows takes just before inserting them. */
export const CHANGE_LOG_LOCK_KEY = 0x6c69_7665_6c6f_6721n; // "livelog!"

export type PostgresDb = NodePgDatabase<typeof tables>;

export type PostgresConfig = Extract<DatabaseConfig, { kind: 'postgres' }>;

export interface OpenedPostgres {
  db: PostgresDb;
  pool: pg.Pool;
  /** True when the database answers `select 1` within `timeoutMs`. Never throws. */
  ready(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Opens a pool on `DATABASE_URL` and applies every pending migration from `drizzle/postgres/`
 * under a session advisory lock.
 */
export async function openPostgres(config: PostgresConfig, logger: Logger): Promise<OpenedPostgres> {
  const pool = createPool(config, logger);
  try {
    await migratePostgres(pool);
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }
  const db = drizzle({ client: pool, schema: tables });
  return {
    db,
    pool,
    ready: (timeoutMs = 1000) => answers(pool, timeoutMs),
    async close() {
      await pool.end();
    },
  };
}

/**
 * The pool of one replica on `DATABASE_URL` (no connection is opened until a query asks for one);
 * `pipelined` (a count): that many connections whose statements are sent without waiting for the
 * answers of those before (the group commit's, group.ts).
 */
export function createPool(config: PostgresConfig, logger: Logger, pipelined = 0): pg.Pool {
  const pool = new pg.Pool({
    connectionString: config.url,
    max: pipelined > 0 ? pipelined : config.poolSize,
    pipeline: pipelined > 0,
    connectionTimeoutMillis: config.connectTimeoutMs,
    statement_timeout: config.statementTimeoutMs,
    // A transaction left open by a dead request must not hold row locks (or the change-log lock).
    idle_in_transaction_session_timeout: config.statementTimeoutMs,
    application_name: 'livestream-subgraph',
  });
  // An idle connection that breaks (database restarted, network cut) is dropped from the pool;
  // without a listener its error would end the process.
  let lastIdleError = 0;
  pool.on('error', (error) => {
    if (Date.now() - lastIdleError > 10_000) logger.warn({ err: error }, 'idle PostgreSQL connection lost');
    lastIdleError = Date.now();
  });
  // One that breaks while checked out (a transaction between two statements, or in one) emits its
  // error on the client, which the pool listens to only while the client is idle: unheard, it ended
  // the process (test/replicas/postgres-cut.test.ts, a cut during a lease renewal). Its statements
  // fail anyway (StoreUnavailableError to the caller), and the pool drops it when it is released.
  pool.on('connect', (client) => {
    client.on('error', () => {});
    if (pipelined > 0) batchWritesPerTurn(client);
  });
  return pool;
}

/** Applies pending migrations while holding the migration lock on one connection. */
export async function migratePostgres(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    // Waiting for another replica's migration, or a long one, is not a slow statement.
    await client.query('set statement_timeout = 0');
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    try {
      await migrate(drizzle({ client }), { migrationsFolder: POSTGRES_MIGRATIONS_FOLDER });
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()]);
      await client.query('reset statement_timeout');
    }
  } catch (error) {
    broken = error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    // A connection that failed mid-way is not put back (it may still hold the lock).
    client.release(broken);
  }
}

export async function answers(pool: pg.Pool, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const query = pool.query('select 1').then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([query, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
