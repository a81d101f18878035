// `npx tsx bench/wal-frames.ts [deliveries] [--concurrency=7] [--seed=101000] [--dir=/dev/shm]`: the
// pages a 100ms webhook delivery writes to SQLite's log, by table or index, and per group commit,
// counted (not timed, so it holds on a loaded machine): `WebhookIntake.handle` of this tree's
// `buildApp`, `concurrency` deliveries in flight on seeded streams as bench/intake-loop.ts, after a
// warm-up. For the measured deliveries a second connection holds a read transaction begun on an
// empty log, so no checkpoint can copy the log back and restart it: every frame written stays in
// the -wal file, which is then read (frame header: page number, and the database size on a
// commit's last frame) and each page named through the `dbstat` table.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { cliOptions, hmsIntakeEnv } from './lib.js';
import { HMS_DELIVERY_HEADERS, hmsStartedBody, webhookStreams } from './seed-rows.js';

const options = cliOptions();
const deliveries = Number(process.argv.slice(2).find((arg) => !arg.startsWith('--')) ?? 5000);
const concurrency = Number(options.get('concurrency') ?? 7);
const seeded = Number(options.get('seed') ?? 101_000);
const warmUp = 4000;
const dir = mkdtempSync(join(options.get('dir') ?? '/dev/shm', 'livestream-frames-'));
const file = join(dir, 'frames.sqlite');
const app = await buildApp(
  loadConfig({ ...hmsIntakeEnv(file), PORT: '0', LOG_LEVEL: 'silent' }),
  createLogger('silent'),
);
const store = app.services.store;
await store.transaction(async () => {
  for (const row of webhookStreams(Math.max(seeded, warmUp + deliveries)))
    await store.streams.insert('livestream', row);
});
const headers = HMS_DELIVERY_HEADERS;
const body = (i: number) => Buffer.from(hmsStartedBody(i));
const run = async (from: number, count: number) => {
  let next = from;
  const worker = async () => {
    while (next < from + count) {
      const answer = await app.webhooks.handle('HMS', body(next++), headers);
      if (answer.status !== 200 || answer.body.pending) throw new Error(JSON.stringify(answer));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
};
await run(0, warmUp);

const reader = new Database(file);
reader.pragma('wal_checkpoint(TRUNCATE)');
reader.exec('BEGIN');
reader.prepare('select count(*) from sqlite_schema').get();
await run(warmUp, deliveries);
const log = readFileSync(`${file}-wal`);
reader.exec('COMMIT');
const owner = new Map<number, string>();
for (const row of reader.prepare('select name, pageno from dbstat').all() as { name: string; pageno: number }[]) {
  owner.set(row.pageno, row.name);
}
const pageSize = reader.pragma('page_size', { simple: true }) as number;
const byOwner = new Map<string, number>();
let frames = 0;
let commits = 0;
for (let at = 32; at + 24 + pageSize <= log.length; at += 24 + pageSize) {
  frames++;
  if (log.readUInt32BE(at + 4) !== 0) commits++;
  const name = owner.get(log.readUInt32BE(at)) ?? '(new page)';
  byOwner.set(name, (byOwner.get(name) ?? 0) + 1);
}
console.log(
  `${deliveries} deliveries, ${commits} commits (${(deliveries / commits).toFixed(2)} a commit), ` +
    `${frames} frames: ${(frames / commits).toFixed(1)} a commit, ${(frames / deliveries).toFixed(2)} a delivery`,
);
for (const [name, count] of [...byOwner].sort((a, b) => b[1] - a[1])) {
  console.log(`  ${(count / commits).toFixed(2)} a commit  ${(count / deliveries).toFixed(3)} a delivery  ${name}`);
}
reader.close();
await app.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
