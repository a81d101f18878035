#!/usr/bin/env node
// The prune command: `npm run prune -- --older-than 30d` (or `livestream-prune`, the package's
// bin) runs retention's pruning by hand, to the end, on the database DATABASE_URL names (a SQLite
// file or postgres://…), and prints what it pruned. It may run beside the service: each batch is a
// short transaction (on PostgreSQL, streams another replica is pruning are skipped).
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { ConfigError, type DatabaseConfig, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { Pruner } from './retention/pruner.js';
import { PostgresStore } from './store/postgres/store.js';
import { SqliteStore } from './store/sqlite/store.js';
import type { Store } from './store/types.js';

const USAGE = 'usage: npm run prune -- [--older-than <n>d|h|m] (default: RETENTION_DAYS days)';
const UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000 };

/** `30d`, `12h`, `90m`: how old a final stream's history (and a delivery) must be to go. */
function parseAge(text: string): number {
  const match = /^(\d+)\s*([dhm])$/i.exec(text.trim());
  if (!match) throw new Error(`--older-than: "${text}" is not a duration such as 30d, 12h or 90m`);
  return Number(match[1]) * (UNIT_MS[(match[2] as string).toLowerCase()] as number);
}

/** Exit 2: the command was asked something it cannot do (bad argument, no database there). */
function fail(message: string, code = 2): never {
  process.stderr.write(code === 2 ? `${message}\n${USAGE}\n` : `${message}\n`);
  process.exit(code);
}

let olderThanMs: number | undefined;
let config: ReturnType<typeof loadConfig>;
try {
  const { values } = parseArgs({ options: { 'older-than': { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  config = loadConfig();
  if (values['older-than'] !== undefined) olderThanMs = parseAge(values['older-than']);
} catch (error) {
  fail(error instanceof ConfigError || error instanceof Error ? error.message : String(error));
}
const logger = createLogger(config.logLevel);
const store = await openStore(config.database, logger);
try {
  const report = await new Pruner(store, config.retention, logger).run(olderThanMs);
  process.stdout.write(`${JSON.stringify({ pruned: report })}\n`);
} catch (error) {
  process.stderr.write(`prune: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await store.close();
}

/**
 * The store DATABASE_URL names, as the service opens it (migrations applied), or exit 2 when
 * there is no database there: a mistyped SQLite path would otherwise create (and migrate) an
 * empty file, a mistyped PostgreSQL database name would fail on its first batch.
 */
async function openStore(database: DatabaseConfig, log: Logger): Promise<Store> {
  const where = `DATABASE_URL=${database.kind === 'sqlite' ? database.path : redacted(database.url)}`;
  if (database.kind === 'sqlite' && !existsSync(database.path)) fail(`prune: no database at ${where}`);
  let store: Store | undefined;
  try {
    store = database.kind === 'sqlite' ? new SqliteStore(database.path) : new PostgresStore(database, log);
    if (store instanceof PostgresStore) await store.open();
    return store;
  } catch (error) {
    await store?.close();
    // SQLSTATE 3D000: the server answers, the database does not exist.
    if ((error as { code?: unknown }).code === '3D000') fail(`prune: no database at ${where}`);
    fail(`prune: cannot open the database at ${where}: ${error instanceof Error ? error.message : String(error)}`, 1);
  }
}

/** The URL without its password, fit for a message. */
function redacted(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
