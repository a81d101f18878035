import { readFileSync, rmSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sql } from 'drizzle-orm';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { LivestreamRecord } from '../src/domain/types.js';
import { Pruner } from '../src/retention/pruner.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import type { Store } from '../src/store/types.js';
import { openTestStore, tempDir, waitFor } from './helpers.js';

/**
 * The store's retention section, as every engine must answer it: batches bounded by `limit`, the
 * oldest final streams first, the watermark raised with them, nothing else touched; deliveries
 * done and old deleted, waiting and recent ones kept.
 */

let store: Store | undefined;
let dir: string | undefined;
afterEach(async () => {
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The store of the project's engine (TEST_STORE): a SQLite file, or a fresh PostgreSQL database. */
async function openStore(name: string): Promise<Store> {
  dir = tempDir();
  return openTestStore(dir, name);
}

const DAY = 86_400_000;

/** A livestream with `events` applied history events, ending in `status`, last changed at `at`. */
async function stream(s: Store, id: string, status: string, at: Date, events: number): Promise<number[]> {
  const record: LivestreamRecord = {
    id,
    provider: 'HMS',
    roomId: `room-${id}`,
    externalId: `ext-${id}`,
    sessionId: null,
    status: 'STARTING',
    vendorStatus: null,
    version: 1,
    failureReason: null,
    idempotencyKey: null,
    startedAt: null,
    stoppedAt: null,
    createdAt: at,
    updatedAt: at,
    changePosition: 0,
    playbackUrl: null,
    ingestRtmpUrl: null,
    ingestStreamKey: null,
    ingestWhipUrl: null,
  };
  const positions: number[] = [];
  await s.transaction(async () => {
    await s.streams.insert('livestream', record);
    for (let version = 1; version <= events; version++) {
      const event = { ...record, status: version === events ? status : 'LIVE', version } as LivestreamRecord;
      positions.push(
        await s.history.append({
          streamKind: 'livestream',
          streamId: id,
          status: event.status,
          vendorStatus: null,
          source: 'WEBHOOK',
          version,
          applied: true,
          eventId: null,
          payload: '{"type":"hls.stopped.success"}',
          snapshot: event,
          at,
        }),
      );
    }
    await s.streams.update('livestream', id, { status, version: events, updatedAt: at });
  });
  return positions;
}

describe('the retention section', () => {
  it('prunes the oldest final streams first, in batches of at most `limit` rows, raising the watermark with them', async () => {
    store = await openStore('retention.sqlite');
    const s = store;
    const now = new Date();
    const old = await stream(s, 'old', 'STOPPED', new Date(now.getTime() - 100 * DAY), 5);
    const older = await stream(s, 'older', 'FAILED', new Date(now.getTime() - 200 * DAY), 2);
    const active = await stream(s, 'active', 'LIVE', new Date(now.getTime() - 300 * DAY), 3);
    const young = await stream(s, 'young', 'STOPPED', new Date(now.getTime() - DAY), 2);
    const request = { before: new Date(now.getTime() - 90 * DAY), limit: 3, now };
    expect(await s.retention.watermark()).toBe(0);
    expect(await s.changes.isPruned(0)).toBe(false);

    // The older stream first (2 rows), then 1 of the other's 5: three rows in all.
    expect(await s.retention.pruneHistory('livestream', request)).toEqual({ pruned: 3, done: false });
    expect(await s.retention.watermark()).toBe(Math.max(...older, old[0] as number));
    expect(await s.retention.pruneHistory('livestream', request)).toEqual({ pruned: 3, done: false });
    expect(await s.retention.pruneHistory('livestream', request)).toEqual({ pruned: 1, done: false });
    expect(await s.retention.pruneHistory('livestream', request)).toEqual({ pruned: 0, done: true });
    const watermark = Math.max(...old, ...older);
    expect(await s.retention.watermark()).toBe(watermark);
    expect(await s.retention.pruneHistory('recording', request)).toEqual({ pruned: 0, done: true });

    // Statuses stay; payloads and snapshots of the old streams are gone, the others' kept.
    const events = await s.history.listFor('livestream', ['old', 'older', 'active', 'young'], 100);
    expect(events.filter((e) => e.payload === null).map((e) => e.id)).toEqual([...old, ...older].sort((a, b) => a - b));
    expect(events.map((e) => e.status)).toContain('FAILED');
    expect((await s.streams.get('livestream', 'old'))?.status).toBe('STOPPED');
    // After the watermark, every change replays whole, with its snapshot.
    const replay = await s.changes.after('livestream', {}, watermark, 100);
    expect(replay.map((c) => [c.position, c.stream.status])).toEqual(
      [...active, ...young].map((position, i) => [position, i === 4 ? 'STOPPED' : 'LIVE']),
    );

    // Expired below the watermark, whole at and above it.
    expect(await s.changes.isPruned(watermark - 1)).toBe(true);
    expect(await s.changes.isPruned(watermark)).toBe(false);
  });

  it('deletes deliveries done before `before`, oldest first in batches; waiting and recent ones stay', async () => {
    store = await openStore('deliveries.sqlite');
    const s = store;
    const now = new Date();
    const long = new Date(now.getTime() - 100 * DAY);
    for (let i = 0; i < 5; i++) {
      const at = i < 4 ? long : now;
      const { id } = await s.deliveries.record({
        provider: 'HMS',
        deliveryId: `d-${i}`,
        contentKey: `c-${i}`,
        eventType: 'hls.started.success',
        receivedAt: at,
        processedAt: at,
      });
      // One old delivery still waits for its stream.
      if (i === 1) await s.deliveries.markPending(id, '{"raw":true}', 'livestream:ext:x');
    }
    const request = { before: new Date(now.getTime() - 90 * DAY), limit: 2, now };
    expect(await s.retention.pruneDeliveries(request)).toEqual({ pruned: 2, done: false });
    expect(await s.retention.pruneDeliveries(request)).toEqual({ pruned: 1, done: true });
    expect(await s.deliveries.count('HMS')).toBe(2);
    expect((await s.deliveries.pending('HMS', long, 10)).map((d) => d.deliveryId)).toEqual([]);
    expect((await s.deliveries.pending('HMS', new Date(0), 10)).map((d) => [d.deliveryId, d.payload])).toEqual([
      ['d-1', '{"raw":true}'],
    ]);
    // Gone, ids and all: the same delivery id is new again.
    const again = await s.deliveries.record({
      provider: 'HMS',
      deliveryId: 'd-0',
      contentKey: 'c-0',
      eventType: 'hls.started.success',
      receivedAt: now,
      processedAt: now,
    });
    expect(again.inserted).toBe(true);
  });
});

describe('retention batches on a SQLite file', () => {
  it('keep the automatic checkpoint off the event loop for the whole run, then restore it with the log checkpointed', async () => {
    dir = tempDir();
    const path = join(dir, 'background.sqlite');
    const sqlite = new SqliteStore(path);
    store = sqlite;
    const autocheckpoint = () =>
      sqlite.db.get<{ wal_autocheckpoint: number }>(sql.raw('PRAGMA wal_autocheckpoint')).wal_autocheckpoint;
    const now = new Date();
    for (let i = 0; i < 4; i++) await stream(sqlite, `old-${i}`, 'STOPPED', new Date(now.getTime() - 100 * DAY), 5);
    await stream(sqlite, 'live', 'LIVE', now, 1);
    const request = { before: new Date(now.getTime() - 90 * DAY), limit: 3, now };
    expect(autocheckpoint()).toBe(1000);

    // Between two batches a webhook's group commits: its COMMIT must not be the one that
    // checkpoints (on the event loop), so the connection's automatic checkpoint stays off.
    let pruned = 0;
    for (let version = 2; ; version++) {
      const batch = await sqlite.retention.pruneHistory('livestream', request);
      if (batch.done) break;
      pruned += batch.pruned;
      await sqlite.groupTransaction(() => sqlite.streams.update('livestream', 'live', { version, updatedAt: now }));
      expect(autocheckpoint()).toBe(0);
    }
    expect(pruned).toBe(20);

    // The run over, the thread has checkpointed what it wrote and the setting is back.
    await waitFor(() => autocheckpoint() === 1000);
    const { log, checkpointed } = sqlite.db.get<{ log: number; checkpointed: number }>(
      sql.raw('PRAGMA wal_checkpoint(PASSIVE)'),
    );
    expect(checkpointed).toBe(log);
    await sqlite.close();
    store = undefined;

    // Durable: a new connection sees every batch and the last group commit.
    const reopened = new SqliteStore(path);
    store = reopened;
    const events = await reopened.history.listFor('livestream', ['old-0', 'old-1', 'old-2', 'old-3'], 100);
    expect(events.filter((e) => e.payload === null)).toHaveLength(20);
    expect((await reopened.streams.get('livestream', 'live'))?.version).toBeGreaterThan(2);
  });

  it('start their checkpoint thread once retention is scheduled, not inside its first run', async () => {
    dir = tempDir();
    const sqlite = new SqliteStore(join(dir, 'prepared.sqlite'));
    store = sqlite;
    const now = new Date();
    for (let i = 0; i < 4; i++) await stream(sqlite, `old-${i}`, 'STOPPED', new Date(now.getTime() - 100 * DAY), 5);
    await stat(dir); // libuv's pool up: its threads are not the ones counted below
    const before = threads();

    // Scheduled (the service's start): the thread boots now, about 100 ms of CPU that the first
    // run's batches would otherwise share with the webhooks arriving beside them.
    const pruner = new Pruner(sqlite, { days: 90, batchSize: 3, intervalMs: 3_600_000 }, pino({ level: 'silent' }));
    pruner.start();
    await waitFor(() => threads() > before);
    const prepared = threads();

    // A run of seven batches, checkpointed by that thread: no thread starts inside it.
    const report = await pruner.run();
    expect(report.historyRows).toBe(20);
    expect(threads()).toBe(prepared);
    await pruner.stop();
  });

  it('find the streams to prune along the partial index of final streams, without sorting them all', async () => {
    dir = tempDir();
    const path = join(dir, 'plan.sqlite');
    const sqlite = new SqliteStore(path);
    store = sqlite;
    const now = new Date();
    const statements: string[] = [];
    const stop = sqlite.onStatement((text) => statements.push(text));
    const request = { before: new Date(now.getTime() - 90 * DAY), limit: 10, now };
    await sqlite.retention.pruneHistory('livestream', request);
    await sqlite.retention.pruneHistory('recording', request);
    stop();
    const reads = statements.filter((text) => /^select id from/.test(text));
    expect(reads).toHaveLength(2);
    // Each batch ran this read: sorting every final stream made a batch's CPU grow with them.
    const reader = new Database(path, { readonly: true });
    try {
      for (const [text, table] of reads.map((text, i) => [text, ['livestreams', 'recordings'][i]])) {
        const plan = reader
          .prepare(`explain query plan ${text}`)
          .all({ before: 0, streams: 100 })
          .map((row) => (row as { detail: string }).detail)
          .join(' | ');
        expect(plan).toContain(`USING INDEX ${table}_prunable`);
        expect(plan).not.toContain('TEMP B-TREE');
      }
    } finally {
      reader.close();
    }
  });

  it('pace their batches while the service writes, and still prune everything', async () => {
    dir = tempDir();
    const sqlite = new SqliteStore(join(dir, 'paced.sqlite'));
    store = sqlite;
    const now = new Date();
    const old = new Date(now.getTime() - 100 * DAY);
    await sqlite.transaction(async () => {
      for (let i = 0; i < 120; i++) await stream(sqlite, `old-${i}`, 'STOPPED', old, 5);
    });
    await stream(sqlite, 'live', 'LIVE', now, 1);

    // A writer that never stops, as webhooks at a steady rate: each commit awaited, the next at once.
    let writes = 0;
    let writing = true;
    const writer = (async () => {
      for (let version = 2; writing; version++) {
        await sqlite.groupTransaction(() => sqlite.streams.update('livestream', 'live', { version, updatedAt: now }));
        writes++;
      }
    })();
    const request = { before: new Date(now.getTime() - 90 * DAY), limit: 300, now };
    const writesDuring: number[] = [];
    let pruned = 0;
    for (;;) {
      const from = writes;
      const batch = await sqlite.retention.pruneHistory('livestream', request);
      writesDuring.push(writes - from);
      if (batch.done) break;
      pruned += batch.pruned;
    }
    writing = false;
    await writer;

    // Everything pruned while the writer went on; the second batch came only once the first's 300
    // rows were paid for at 400 rows a second, the writer committing many times meanwhile (on main
    // it ran after at most four of the writer's releases or flushes: two or three commits).
    expect(pruned).toBe(600);
    expect(writesDuring[1]).toBeGreaterThanOrEqual(8);
  });
});

/** This process's threads (Linux): the checkpoint worker is one of them. */
function threads(): number {
  return Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
}
