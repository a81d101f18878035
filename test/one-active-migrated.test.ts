import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { drizzle as sqliteDrizzle } from 'drizzle-orm/better-sqlite3';
import { migrate as sqliteMigrate } from 'drizzle-orm/better-sqlite3/migrator';
import { drizzle as pgDrizzle } from 'drizzle-orm/node-postgres';
import { migrate as pgMigrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  gql,
  START_LIVESTREAM,
  START_RECORDING,
  STOP_LIVESTREAM,
  startServer,
  storedRows,
  TEST_STORE,
  type TestServer,
  tempDir,
  testDatabaseUrl,
  waitFor,
} from './helpers.js';

/**
 * Issue 17: the one-active-stream-per-room index holds the streams whose `stopped_at` is null
 * (set when a stream leaves its active statuses) instead of naming their statuses. A database made
 * before the change (migrations up to drizzle's 0010, PostgreSQL's 0002) with active streams and
 * final ones, some final ones without a `stopped_at` (as a hand-edited row could be) and a
 * recording in UPLOADING (not active: a new recording may start beside it) without one either,
 * keeps the rule once migrated: the migration fills their `stopped_at` first.
 */

const root = resolve(import.meta.dirname, '..');
const dir = tempDir();
let server: TestServer | undefined;
afterAll(async () => {
  await server?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** A copy of the migrations folder holding those up to `last` (the journal's idx) only. */
function migrationsUpTo(folder: string, last: number): string {
  const out = mkdtempSync(join(tmpdir(), 'migrations-'));
  cpSync(folder, out, { recursive: true });
  const journalPath = join(out, 'meta/_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8'));
  journal.entries = journal.entries.filter((entry: { idx: number }) => entry.idx <= last);
  writeFileSync(journalPath, JSON.stringify(journal));
  return out;
}

/** Migrates `url` as the previous release did: up to the migration before the index changed. */
async function migrateAsBefore(url: string): Promise<void> {
  if (TEST_STORE === 'sqlite') {
    const folder = migrationsUpTo(join(root, 'drizzle'), 10);
    const sqlite = new Database(url);
    sqliteMigrate(sqliteDrizzle(sqlite), { migrationsFolder: folder });
    sqlite.close();
    rmSync(folder, { recursive: true, force: true });
    return;
  }
  const folder = migrationsUpTo(join(root, 'drizzle/postgres'), 2);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await pgMigrate(pgDrizzle({ client }), { migrationsFolder: folder });
  await client.end();
  rmSync(folder, { recursive: true, force: true });
}

const CREATED = Date.UTC(2026, 0, 1);
const UPDATED = Date.UTC(2026, 0, 2);
/** A time as the engine's driver takes it. */
const time = (ms: number | null) => (ms === null || TEST_STORE === 'sqlite' ? ms : new Date(ms).toISOString());

async function seed(url: string, table: string, id: string, room: string, status: string, stoppedAt: number | null) {
  await storedRows(
    url,
    `insert into ${table} (id, provider, room_id, status, version, created_at, updated_at, stopped_at)
     values (?, 'SANDBOX', ?, ?, 3, ?, ?, ?)`,
    [id, room, status, time(CREATED), time(UPDATED), time(stoppedAt)],
  );
}

describe('one active stream per room, on a database migrated from before the stopped_at index', () => {
  it('backfills stopped_at, refuses a second active stream, and lets one start beside final streams', async () => {
    const url = await testDatabaseUrl(dir, 'before.sqlite');
    await migrateAsBefore(url);
    await seed(url, 'livestreams', 'ls-live', 'room-a', 'LIVE', null);
    await seed(url, 'livestreams', 'ls-stopped', 'room-a', 'STOPPED', CREATED);
    // Two final livestreams of one room, neither with a stopped_at.
    await seed(url, 'livestreams', 'ls-old-1', 'room-b', 'STOPPED', null);
    await seed(url, 'livestreams', 'ls-old-2', 'room-b', 'FAILED', null);
    await seed(url, 'recordings', 'rec-active', 'room-a', 'RECORDING', null);
    // An active recording beside one still uploading (the old index left UPLOADING out).
    await seed(url, 'recordings', 'rec-paused', 'room-c', 'PAUSED', null);
    await seed(url, 'recordings', 'rec-uploading', 'room-c', 'UPLOADING', null);
    await seed(url, 'recordings', 'rec-done', 'room-d', 'COMPLETED', null);

    server = await startServer({ DATABASE_URL: url }, { dir });
    const stopped = async (table: string) =>
      Object.fromEntries(
        (await storedRows<{ id: string; stopped_at: number | null }>(url, `select id, stopped_at from ${table}`)).map(
          (row) => [row.id, row.stopped_at],
        ),
      );
    expect(await stopped('livestreams')).toEqual({
      'ls-live': null,
      'ls-stopped': CREATED,
      'ls-old-1': UPDATED,
      'ls-old-2': UPDATED,
    });
    expect(await stopped('recordings')).toEqual({
      'rec-active': null,
      'rec-paused': null,
      'rec-uploading': UPDATED,
      'rec-done': UPDATED,
    });

    const start = async (query: string, roomId: string) => {
      const answer = await gql(server?.url as string, query, { input: { roomId, provider: 'SANDBOX' } });
      return answer.data?.startLivestream ?? answer.data?.startRecording;
    };
    expect(await start(START_LIVESTREAM, 'room-a')).toMatchObject({
      __typename: 'ConflictError',
      activeLivestream: { id: 'ls-live' },
    });
    expect(await start(START_RECORDING, 'room-a')).toMatchObject({
      __typename: 'ConflictError',
      activeRecording: { id: 'rec-active' },
    });
    expect(await start(START_RECORDING, 'room-c')).toMatchObject({
      __typename: 'ConflictError',
      activeRecording: { id: 'rec-paused' },
    });
    // Rooms whose streams are all final (or uploading): a new one starts.
    expect(await start(START_LIVESTREAM, 'room-b')).toMatchObject({ __typename: 'StartLivestreamSuccess' });
    expect(await start(START_RECORDING, 'room-d')).toMatchObject({ __typename: 'StartRecordingSuccess' });

    // The database itself refuses a second active row, whatever its status.
    await expect(seed(url, 'livestreams', 'ls-second', 'room-a', 'STARTING', null)).rejects.toThrow(
      TEST_STORE === 'sqlite' ? /UNIQUE constraint failed: livestreams.provider, livestreams.room_id/ : /one_active/,
    );
    await expect(seed(url, 'recordings', 'rec-second', 'room-c', 'STOPPING', null)).rejects.toThrow(
      TEST_STORE === 'sqlite' ? /UNIQUE constraint failed: recordings.provider, recordings.room_id/ : /one_active/,
    );
  });

  it('lets a livestream start in a room once the one before it is stopped', async () => {
    const url = server?.url as string;
    const first = (await gql(url, START_LIVESTREAM, { input: { roomId: 'room-e' } })).data?.startLivestream;
    expect(first.__typename).toBe('StartLivestreamSuccess');
    const id = first.livestream.id;
    const read = async () =>
      (await gql(url, 'query($id: ID!) { livestream(id: $id) { status stoppedAt } }', { id })).data?.livestream;
    await waitFor(async () => (await read())?.status === 'LIVE');
    expect((await gql(url, START_LIVESTREAM, { input: { roomId: 'room-e' } })).data?.startLivestream).toMatchObject({
      __typename: 'ConflictError',
      activeLivestream: { id },
    });
    expect((await gql(url, STOP_LIVESTREAM, { id })).data?.stopLivestream.__typename).toBe('StopLivestreamSuccess');
    const final = await waitFor(async () => {
      const stream = await read();
      return stream?.status === 'STOPPED' ? stream : undefined;
    });
    expect(final.stoppedAt).not.toBeNull();
    const next = (await gql(url, START_LIVESTREAM, { input: { roomId: 'room-e' } })).data?.startLivestream;
    expect(next).toMatchObject({ __typename: 'StartLivestreamSuccess' });
    expect(next.livestream.id).not.toBe(id);
  });
});
