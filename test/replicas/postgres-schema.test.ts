import { readFileSync } from 'node:fs';
import { eq } from 'drizzle-orm';
import type pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { CHANGE_LOG_LOCK_KEY, type OpenedPostgres, openPostgres } from '../../src/store/postgres/connect.js';
import { livestreams, statusEvents, webhookDeliveries } from '../../src/store/postgres/tables.js';
import { createTestDatabase, type TestDatabase, viaPort } from '../support/postgres.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

/** The migrations in drizzle/postgres, as drizzle-kit's journal lists them. */
const POSTGRES_MIGRATIONS: unknown[] = JSON.parse(
  readFileSync(new URL('../../drizzle/postgres/meta/_journal.json', import.meta.url), 'utf8'),
).entries;

const logger = pino({ level: 'silent' });

function postgresConfig(url: string) {
  const { database } = loadConfig({ DATABASE_URL: url, DATABASE_CONNECT_TIMEOUT_MS: '1000' });
  if (database.kind !== 'postgres') throw new Error('expected a PostgreSQL configuration');
  return database;
}

const now = new Date();
const stream = (id: string, roomId: string, status: string, extra: Partial<typeof livestreams.$inferInsert> = {}) => ({
  id,
  provider: 'SANDBOX',
  roomId,
  status,
  version: 1,
  createdAt: now,
  updatedAt: now,
  ...extra,
});

/** Inserts an applied history row the way the design note says: change-log lock first. */
async function appendChange(client: pg.ClientBase, streamId: string): Promise<number> {
  await client.query('select pg_advisory_xact_lock($1)', [CHANGE_LOG_LOCK_KEY.toString()]);
  const { rows } = await client.query<{ id: string }>(
    `insert into status_events (stream_kind, stream_id, status, source, version, applied, at, snapshot)
     values ('livestream', $1, 'LIVE', 'API', 2, true, now(), '{}') returning id`,
    [streamId],
  );
  return Number(rows[0]?.id);
}

describe('PostgreSQL schema', () => {
  let database: TestDatabase;
  let opened: OpenedPostgres;

  beforeAll(async () => {
    database = await createTestDatabase();
    // Two replicas booting together: both migrate, under the lock, and the migration runs once.
    const both = await Promise.all([
      openPostgres(postgresConfig(database.url), logger),
      openPostgres(postgresConfig(database.url), logger),
    ]);
    const [first, second] = both as [OpenedPostgres, OpenedPostgres];
    opened = first;
    await second.close();
  });

  afterAll(async () => {
    await opened?.close();
    await database?.drop();
  });

  it('applies the migrations once when two replicas boot together, and again is a no-op', async () => {
    const third = await openPostgres(postgresConfig(database.url), logger);
    await third.close();
    const { rows } = await opened.pool.query('select count(*)::int as n from drizzle.__drizzle_migrations');
    // Each migration of drizzle/postgres once.
    expect(rows[0].n).toBe(POSTGRES_MIGRATIONS.length);
    expect(await opened.ready()).toBe(true);
  });

  it('refuses a second active livestream in a room, and allows one once the first is final', async () => {
    const { db } = opened;
    await db.insert(livestreams).values(stream('ls-1', 'room-a', 'LIVE'));
    await expect(db.insert(livestreams).values(stream('ls-2', 'room-a', 'STARTING'))).rejects.toMatchObject({
      cause: { code: '23505', constraint: 'livestreams_one_active_per_room' },
    });
    // Another provider, or a final stream, in the same room is fine. A stream leaves the index in
    // the update that ends it, which sets its stoppedAt (as every change to a final status does).
    await db.insert(livestreams).values({ ...stream('ls-3', 'room-a', 'LIVE'), provider: 'HMS' });
    await db.insert(livestreams).values(stream('ls-4', 'room-a', 'STOPPED', { stoppedAt: now }));
    await db.update(livestreams).set({ status: 'STOPPED', stoppedAt: now }).where(eq(livestreams.id, 'ls-1'));
    await db.insert(livestreams).values(stream('ls-5', 'room-a', 'STARTING'));
    const active = await opened.pool.query(
      "select id from livestreams where provider = 'SANDBOX' and room_id = 'room-a' and status in ('STARTING', 'LIVE', 'STOPPING')",
    );
    expect(active.rows.map((row) => row.id)).toEqual(['ls-5']);
  });

  it('keeps one stream per idempotency key', async () => {
    const { db } = opened;
    await db.insert(livestreams).values(stream('ls-10', 'room-b', 'STOPPED', { idempotencyKey: 'key-1' }));
    await expect(
      db.insert(livestreams).values(stream('ls-11', 'room-c', 'STOPPED', { idempotencyKey: 'key-1' })),
    ).rejects.toMatchObject({ cause: { code: '23505', constraint: 'livestreams_idempotency_key' } });
  });

  it('records a webhook delivery once, even when two replicas receive it at once', async () => {
    const { db } = opened;
    const delivery = { provider: 'HMS', deliveryId: 'delivery-1', payload: '{}', receivedAt: now };
    const inserted = await Promise.all(
      [1, 2].map(() =>
        db.insert(webhookDeliveries).values(delivery).onConflictDoNothing().returning({ id: webhookDeliveries.id }),
      ),
    );
    expect(inserted.map((rows) => rows.length).sort()).toEqual([0, 1]);
    const pending = await opened.pool.query(
      "select count(*)::int as n from webhook_deliveries where provider = 'HMS' and processed_at is null",
    );
    expect(pending.rows[0].n).toBe(1);
  });

  it('gives change-log positions in commit order under the change-log lock', async () => {
    const first = await opened.pool.connect();
    const second = await opened.pool.connect();
    try {
      // The second transaction starts first and does its work, but takes the lock after the first.
      await second.query('begin');
      await second.query("update livestreams set version = version + 1 where id = 'ls-5'");
      await first.query('begin');
      const p1 = await appendChange(first, 'ls-1');
      const secondAppend = appendChange(second, 'ls-5');
      await until(async () => (await advisoryWaiters(opened.pool)) === 1);
      expect(await visiblePositions(opened.pool)).toEqual([]);
      await first.query('commit');
      const p2 = await secondAppend;
      expect(p2).toBeGreaterThan(p1);
      // Until the second commits, readers see the first position alone: nothing below a visible one is missing.
      expect(await visiblePositions(opened.pool)).toEqual([p1]);
      await second.query('commit');
      expect(await visiblePositions(opened.pool)).toEqual([p1, p2]);
    } finally {
      first.release();
      second.release();
    }
  });

  it('never lets a reader see a position before a lower one, with many writers at once', async () => {
    const already = await visiblePositions(opened.pool);
    const clients = await Promise.all(Array.from({ length: 8 }, () => opened.pool.connect()));
    const writers = clients.map(async (client, index) => {
      try {
        await client.query('begin');
        await appendChange(client, `ls-many-${index}`);
        // Without the lock, the earlier positions would commit last here.
        await client.query('select pg_sleep(0.005 * $1::int)', [clients.length - index]);
        await client.query('commit');
      } finally {
        client.release();
      }
    });
    const seen: number[][] = [];
    let done = false;
    const all = Promise.all(writers).finally(() => {
      done = true;
    });
    while (!done) seen.push(await visiblePositions(opened.pool));
    await all;
    const final = await visiblePositions(opened.pool);
    expect(final).toHaveLength(already.length + clients.length);
    for (const snapshot of seen) expect(final.slice(0, snapshot.length)).toEqual(snapshot);
  });

  it('answers not ready while PostgreSQL is cut off, and recovers by itself when it is back', async () => {
    const target = new URL(database.url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const viaProxy = await openPostgres(postgresConfig(viaPort(database.url, proxy.port)), logger);
    try {
      expect(await viaProxy.ready()).toBe(true);
      await proxy.cut();
      expect(await viaProxy.ready(500)).toBe(false);
      await expect(viaProxy.db.select().from(statusEvents).limit(1)).rejects.toThrow();
      await proxy.restore();
      await until(() => viaProxy.ready(500));
      const rows = await viaProxy.db.select({ id: statusEvents.id }).from(statusEvents).limit(1);
      expect(rows).toHaveLength(1);
    } finally {
      await viaProxy.close();
      await proxy.close();
    }
  });
});

async function visiblePositions(pool: pg.Pool): Promise<number[]> {
  const { rows } = await pool.query<{ id: string }>('select id from status_events where applied order by id');
  return rows.map((row) => Number(row.id));
}

async function advisoryWaiters(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    "select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted",
  );
  return rows[0]?.n ?? 0;
}

/** Re-checks until true (the test's own timeout bounds it). */
async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 20));
}
