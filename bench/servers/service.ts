// The service under test, in its own process. Answers IPC commands from the benchmark.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { writeHeapSnapshot } from 'node:v8';
import Database from 'better-sqlite3';
import pg from 'pg';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { webhookStreams } from '../seed-rows.js';

const config = loadConfig({ ...process.env, PORT: '0' });
const app = await buildApp(config, createLogger(config.logLevel));
const port = await app.start();
// BENCH_RETENTION=off (the webhook intake benchmark): no background retention run. Its first comes
// 60 s after boot, which fell inside the intake's rounds: a retention pass over the seeded streams
// (100-160 ms of CPU and 260-384 KB written) during a raw-insert round (bench/README.md, "SQLite
// intake against efa62df: why the baselines differed"). The retention benchmark leaves it on.
if (process.env.BENCH_RETENTION === 'off') await app.retention.stop();

/** The columns `webhookStreams` gives a value (the others are null or their default, as the store writes them). */
const SEEDED = 'id, provider, room_id, external_id, status, version, created_at, updated_at, next_poll_at';

/**
 * `webhookStreams(count)` written in one transaction on a connection of the bench's own, in plain SQL:
 * the store's insert (one row a statement through drizzle) took 1.4 s for 8,300 rows on SQLite and
 * 3–6 s on PostgreSQL (one round trip each) at load 7, and a drizzle insert of many rows builds its
 * SQL slowly (1.3 s for the same rows).
 */
async function insertInBulk(count: number): Promise<void> {
  const rows = webhookStreams(count);
  if (config.database.kind === 'sqlite') {
    const sqlite = new Database(config.database.path);
    sqlite.pragma('busy_timeout = 5000');
    const insert = sqlite.prepare(`insert into livestreams (${SEEDED}) values (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    sqlite.transaction(() => {
      for (const r of rows) {
        const times = [r.createdAt.getTime(), r.updatedAt.getTime(), r.nextPollAt?.getTime()];
        insert.run(r.id, r.provider, r.roomId, r.externalId, r.status, r.version, ...times);
      }
    })();
    sqlite.close();
    return;
  }
  const client = new pg.Client({ connectionString: config.database.url });
  await client.connect();
  try {
    const [first] = rows;
    await client.query(
      `insert into livestreams (${SEEDED}) select 'wh-stream-' || i, 'HMS', 'wh-room-' || i, 'wh-ext-' || i, ` +
        `'STARTING', 1, $1, $1, $2 from generate_series(0, $3::int - 1) as i`,
      [first?.createdAt, first?.nextPollAt, count],
    );
  } finally {
    await client.end();
  }
}

let profiler: Session | undefined;
let countingStatements = false;
const statementCounts = new Map<string, number>();

// When the last change was published (its commit done): the fan-out benchmark tells its durable
// commit apart from the delivery that follows. The bench's own hook, not the service's.
let publishedAt = 0;
const publish = app.services.events.publish.bind(app.services.events);
app.services.events.publish = (change) => {
  publishedAt = performance.timeOrigin + performance.now();
  publish(change);
};

process.on('message', async (message: { type: string; id: number; command: string; args?: unknown }) => {
  if (message.type !== 'call') return;
  let result: unknown = null;
  if (message.command === 'memory') {
    for (let i = 0; i < 3; i++) globalThis.gc?.();
    result = process.memoryUsage();
  } else if (message.command === 'snapshot') {
    // A heap snapshot for bench/profile.ts (after a forced GC).
    for (let i = 0; i < 3; i++) globalThis.gc?.();
    result = writeHeapSnapshot(message.args as string);
  } else if (message.command === 'cpu-start') {
    // A CPU profile of a chosen window, for bench/profile.ts.
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  } else if (message.command === 'cpu-stop' && profiler) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(message.args as string, JSON.stringify(profile));
    profiler.disconnect();
    result = message.args;
  } else if (message.command === 'seed') {
    // Setup for the webhook benchmark: HMS livestreams in STARTING with known vendor ids, in one
    // transaction (the measured path is the webhook's, not this). `bulk` (quick mode): the same
    // rows in plain SQL on a connection of the bench's own (`insertInBulk`).
    const { count, bulk } = message.args as { count: number; bulk?: boolean };
    if (bulk) await insertInBulk(count);
    else {
      await app.services.store.transaction(async () => {
        for (const row of webhookStreams(count)) await app.services.store.streams.insert('livestream', row);
      });
    }
    result = count;
  } else if (message.command === 'changes') {
    // Setup for the catch-up benchmark: one sandbox livestream changed `count` times (a new vendor
    // status each), through the real intake, committed a thousand at a time. Answers its id and
    // the cursor before the first of those changes.
    const { count } = message.args as { count: number };
    const stream = await app.services.streams.startLivestream({ roomId: 'catch-up-room' });
    for (let done = 0; done < count; ) {
      const batch = Math.min(1000, count - done);
      await app.services.store.transaction(async () => {
        for (let i = 0; i < batch; i++) {
          await app.intake.observed('livestream', stream.id, { status: stream.status, vendorStatus: `v-${done + i}` });
        }
      });
      done += batch;
    }
    result = { id: stream.id, position: stream.changePosition };
  } else if (message.command === 'seed-old-history') {
    // Setup for the retention benchmark: `streams` livestreams that ended `days` ago, each with
    // `events` history rows carrying a payload and a snapshot, written straight to SQLite.
    const { streams, events, days } = message.args as { streams: number; events: number; days: number };
    const sqlite = new Database(config.databaseUrl);
    sqlite.pragma('busy_timeout = 5000');
    const ended = Date.now() - days * 86_400_000;
    const stream = sqlite.prepare(
      'insert into livestreams (id, provider, room_id, status, version, created_at, updated_at, change_position) ' +
        "values (?, 'HMS', ?, 'STOPPED', ?, ?, ?, 0)",
    );
    const event = sqlite.prepare(
      'insert into status_events (stream_kind, stream_id, status, source, version, applied, payload, snapshot, at) ' +
        "values ('livestream', ?, ?, 'WEBHOOK', ?, 1, ?, ?, ?)",
    );
    const statuses = ['STARTING', 'LIVE', 'STOPPING', 'STOPPED'];
    for (let from = 0; from < streams; from += 10_000) {
      sqlite.transaction(() => {
        for (let i = from; i < Math.min(streams, from + 10_000); i++) {
          const id = `old-stream-${i}`;
          stream.run(id, `old-room-${i}`, events, ended - 3_600_000, ended);
          for (let v = 1; v <= events; v++) {
            const status = statuses[Math.min(v - 1, statuses.length - 1)] as string;
            const payload = JSON.stringify({ type: 'hls.stopped.success', id, data: { room_id: `old-room-${i}`, v } });
            event.run(id, status, v, payload, JSON.stringify([id, 'HMS', `old-room-${i}`, status, v]), ended);
          }
        }
      })();
      // Let IPC and timers breathe between chunks of setup.
      await new Promise((resolve) => setImmediate(resolve));
    }
    // The seed's WAL checkpointed now, not by the service's first commits (seconds of it, which
    // would be measured as webhook latency).
    sqlite.pragma('wal_checkpoint(TRUNCATE)');
    sqlite.close();
    result = streams * events;
  } else if (message.command === 'prune') {
    // Runs retention to the end; answers its report and how long it took.
    const began = performance.now();
    const report = await app.retention.run();
    result = { ...report, ms: performance.now() - began };
  } else if (message.command === 'count-statements') {
    // bench/cost-webhooks.ts: statements the store runs from now on (answers the count so far).
    if (!countingStatements) {
      countingStatements = true;
      app.services.store.onStatement((sql) => {
        const key = sql.slice(0, 60);
        statementCounts.set(key, (statementCounts.get(key) ?? 0) + 1);
      });
    }
    result = Object.fromEntries(statementCounts);
  } else if (message.command === 'cpu-usage') {
    result = process.cpuUsage();
  } else if (message.command === 'published-at') {
    result = publishedAt;
  } else if (message.command === 'subscribers') {
    result = app.services.events.subscriberCount;
  } else if (message.command === 'churn') {
    // The replica benchmark's load: changes paced at `rate` per second for `seconds`, round robin
    // over the streams, each a new vendor status (`${prefix}${i}`) through the real intake, each in
    // the store's group transaction as a webhook delivery's apply is (on PostgreSQL, concurrent
    // ones share one commit where the store groups them). Answers when each committed (epoch ms),
    // by marker, and the rate reached.
    const { ids, rate, seconds, prefix } = message.args as {
      ids: string[];
      rate: number;
      seconds: number;
      prefix: string;
    };
    const committed: Record<string, number> = {};
    const began = performance.now();
    const until = began + seconds * 1000;
    // At most 64 changes in flight: a database slower than `rate` makes the load fall behind (the
    // answer says what rate was reached) rather than queue without bound; the run ends on time.
    const inFlight = new Set<Promise<void>>();
    let issued = 0;
    for (let i = 0; performance.now() < until; i++) {
      const wait = began + (i * 1000) / rate - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      while (inFlight.size >= 64) await Promise.race(inFlight);
      if (performance.now() >= until) break;
      const id = ids[i % ids.length] as string;
      const marker = `${prefix}${i}`;
      const change: Promise<void> = app.services.store
        .groupTransaction(() => app.intake.observed('livestream', id, { status: 'STARTING', vendorStatus: marker }))
        .then(() => {
          committed[marker] = performance.timeOrigin + performance.now();
        })
        .finally(() => inFlight.delete(change));
      inFlight.add(change);
      issued++;
    }
    await Promise.all(inFlight);
    committed.__rate = issued / ((performance.now() - began) / 1000);
    result = committed;
  } else if (message.command === 'touch') {
    // One status report that changes a stream (its vendor status), through the real intake path.
    const { id, marker } = message.args as { id: string; marker: string };
    const stream = await app.services.store.streams.get('livestream', id);
    if (stream) {
      const startedAt = performance.timeOrigin + performance.now();
      await app.intake.observed('livestream', id, { status: stream.status, vendorStatus: marker });
      result = startedAt;
    }
  }
  process.send?.({ type: 'result', id: message.id, result });
});
process.once('SIGTERM', () => {
  app.stop().finally(() => process.exit(0));
});
process.send?.({ type: 'ready', port });
