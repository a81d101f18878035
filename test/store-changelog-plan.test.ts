import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/store/sqlite/store.js';
import type { ChangeFilter } from '../src/store/types.js';
import { tempDir } from './helpers.js';

/**
 * A subscriber resuming after a cursor reads the change log a page at a time. Without a stream
 * id, each page must walk the log along its positions from the cursor: read along the
 * (stream_kind, stream_id, event_id) index instead, every page went through every event of the
 * kind and sorted them, which made a long catch-up quadratic (issue 17).
 */

let store: SqliteStore | undefined;
let dir: string | undefined;
afterEach(() => {
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** SQLite's plan for the statement the store ran for `filter`, asked of the same file. */
async function planOf(file: string, s: SqliteStore, filter: ChangeFilter): Promise<string> {
  const statements: string[] = [];
  const stop = s.onStatement((sql) => statements.push(sql));
  await s.changes.after('livestream', filter, 0, 100);
  stop();
  const sql = statements.find((text) => /from "status_events" e/.test(text));
  expect(sql).toBeDefined();
  const reader = new Database(file, { readonly: true });
  try {
    const parameters = { kind: 'livestream', after: 0, id: 'x', provider: 'HMS', roomId: 'room' };
    const used = Object.fromEntries(Object.entries(parameters).filter(([name]) => sql?.includes(`@${name}`)));
    return reader
      .prepare(`explain query plan ${sql}`)
      .all(used)
      .map((row) => (row as { detail: string }).detail)
      .join(' | ');
  } finally {
    reader.close();
  }
}

describe('the change log read of a resumed subscription', () => {
  it('walks the log along its positions, without sorting, unless it follows one stream', async () => {
    dir = tempDir();
    const file = join(dir, 'changelog.sqlite');
    store = new SqliteStore(file);
    for (const filter of [
      {},
      { roomId: 'room' },
      { provider: 'HMS' as const },
      { provider: 'HMS' as const, roomId: 'room' },
    ]) {
      const plan = await planOf(file, store, filter);
      expect(plan, JSON.stringify(filter)).toContain('SEARCH e USING INTEGER PRIMARY KEY (rowid>?)');
      expect(plan, JSON.stringify(filter)).not.toContain('TEMP B-TREE');
    }
    // One stream: its own events, along the index that starts with (stream_kind, stream_id).
    expect(await planOf(file, store, { id: 'x' })).toContain('status_events_event_id (stream_kind=? AND stream_id=?)');
  });

  it('has its page size written in, not bound: SQLite prepares a statement with a bound LIMIT again at each run', async () => {
    // SQLite's planner reads a bound LIMIT's value, so every run (every page of a replay, every
    // read of the tailer) parsed and planned the statement anew: ≈ 5% of a replay's CPU, seen in
    // `perf` as `sqlite3Reprepare` under `sqlite3_step` (bench/README.md, "Catch-up", 2026-12-06,
    // morning session). better-sqlite3 does not expose the count SQLite keeps of it
    // (SQLITE_STMTSTATUS_REPREPARE), so the statement's text is what is checked.
    dir = tempDir();
    store = new SqliteStore(join(dir, 'changelog.sqlite'));
    const statements: string[] = [];
    const stop = store.onStatement((sql) => statements.push(sql));
    await store.changes.after('livestream', { roomId: 'room' }, 0, 100);
    await store.changes.tail(0, 50);
    stop();
    const reads = statements.filter((text) => /from "status_events" e/.test(text));
    expect(reads.length).toBeGreaterThanOrEqual(3);
    for (const sql of reads) expect(sql).toMatch(/ limit \d+$/);
  });
});
