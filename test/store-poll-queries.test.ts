import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { tempDir } from './helpers.js';
import { streamRow } from './support/rows.js';

/**
 * The poller asks the schedule on every tick (what is due, when is the next): those questions
 * must be answered along the next_poll_at index, whatever the number of active streams. Read
 * along the status index instead, every tick would go through every active stream.
 */

let store: SqliteStore | undefined;
let dir: string | undefined;
afterEach(() => {
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the poll schedule queries', () => {
  it('read along the next_poll_at index, not through every active stream', async () => {
    dir = tempDir();
    const file = join(dir, 'schedule.sqlite');
    store = new SqliteStore(file);
    const s = store;
    const now = new Date();
    const later = new Date(now.getTime() + 60_000);
    await s.transaction(async () => {
      for (let i = 0; i < 2000; i++) {
        const at = new Date(now.getTime() - 1000);
        await s.streams.insert(
          'livestream',
          streamRow(`live-${i}`, {
            provider: 'HMS',
            status: i % 4 ? 'LIVE' : 'STOPPED',
            createdAt: at,
            updatedAt: at,
            // Three are due now; every other active one later.
            nextPollAt: i % 4 === 0 ? null : i < 4 ? at : later,
            pollIntervalMs: 5000,
          }),
        );
      }
    });
    const statements: string[] = [];
    const stop = s.onStatement((sql) => statements.push(sql));
    const claims = await s.polls.claimDue('livestream', { owner: 'test', now, leaseUntil: later, limit: 10 });
    const next = await s.polls.nextDue('livestream', new Date(now.getTime() + 1));
    stop();
    expect(claims.map((c) => c.id).sort()).toEqual(['live-1', 'live-2', 'live-3']);
    // The three claimed are leased: the next one due is the first of the others.
    expect(next?.getTime()).toBe(later.getTime());

    const reads = statements.filter((sql) => /^\s*select/i.test(sql));
    expect(reads.length).toBeGreaterThanOrEqual(2);
    // How SQLite runs each of them, asked of the same file through a connection of our own.
    const reader = new Database(file, { readonly: true });
    try {
      for (const sql of reads) {
        const parameters = (sql.match(/\?/g) ?? []).map(() => 0);
        const plan = reader
          .prepare(`explain query plan ${sql}`)
          .all(...parameters)
          .map((row) => (row as { detail: string }).detail)
          .join(' | ');
        expect(plan, sql).toContain('USING INDEX livestreams_next_poll');
        expect(plan, sql).not.toContain('livestreams_status');
      }
    } finally {
      reader.close();
    }
  });
});
