#!/usr/bin/env node
// The prune command: `npm run prune -- --older-than 30d` (or `livestream-prune`, the package's
// bin) runs retention's pruning by hand, to the end, on the database DATABASE_URL names, and
// prints what it pruned. It may run beside the service: each batch is a short transaction.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { Pruner } from './retention/pruner.js';
import { SqliteStore } from './store/sqlite/store.js';

const USAGE = 'usage: npm run prune -- [--older-than <n>d|h|m] (default: RETENTION_DAYS days)';
const UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000 };

/** `30d`, `12h`, `90m`: how old a final stream's history (and a delivery) must be to go. */
function parseAge(text: string): number {
  const match = /^(\d+)\s*([dhm])$/i.exec(text.trim());
  if (!match) throw new Error(`--older-than: "${text}" is not a duration such as 30d, 12h or 90m`);
  return Number(match[1]) * (UNIT_MS[(match[2] as string).toLowerCase()] as number);
}

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
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
if (config.database.kind !== 'sqlite') {
  fail('prune: this build prunes the SQLite store only (PostgreSQL retention is not implemented yet)');
}
// A mistyped path would otherwise create (and migrate) an empty database there.
if (!existsSync(config.database.path)) fail(`prune: no database at DATABASE_URL=${config.database.path}`);

const logger = createLogger(config.logLevel);
const store = new SqliteStore(config.database.path);
try {
  const report = await new Pruner(store, config.retention, logger).run(olderThanMs);
  process.stdout.write(`${JSON.stringify({ pruned: report })}\n`);
} finally {
  store.close();
}
