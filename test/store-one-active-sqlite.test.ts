import { readFileSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { NewStream } from '../src/store/types.js';
import { startServer, type TestServer, tempDir } from './helpers.js';
import { streamRow } from './support/rows.js';

/**
 * Issue 17: the one-active-stream-per-room index names `stopped_at` (set when a stream leaves its
 * active statuses), not `status`, so a change between active statuses (STARTING → LIVE, the
 * webhook intake's commonest) writes no page of it; SQLite deleted and re-inserted the entry on
 * every status change while the index's WHERE named `status`. Seen as bench/wal-frames.ts sees
 * it: the log's frames of one delivery, each page named through `dbstat`.
 */

const dir = tempDir();
let server: TestServer | undefined;
afterAll(async () => {
  await server?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const HEADERS = { 'content-type': 'application/json', 'x-hms-webhook-secret': 'secret' };

function delivery(id: string, type: string, stream: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      version: '2.0',
      id,
      app_id: 'a',
      account_id: 'b',
      timestamp: new Date().toISOString(),
      type,
      data: { room_id: `room-${stream}`, stream_id: `ext-${stream}`, session_id: 's' },
    }),
  );
}

describe('the one-active index on SQLite', () => {
  it('is not written by STARTING → LIVE, and is by LIVE → STOPPED', async () => {
    server = await startServer(
      { HMS_ACCESS_KEY: 'k', HMS_APP_SECRET: 's', HMS_WEBHOOK_SECRET: 'secret', POLL_INTERVAL_MS: '3600000' },
      { dir },
    );
    const { app, dbPath } = server;
    await app.services.store.transaction(async () => {
      for (const id of ['s1', 's2', 's3']) {
        await app.services.store.streams.insert('livestream', {
          ...streamRow(id, { provider: 'HMS', status: 'STARTING', nextPollAt: new Date(Date.now() + 3_600_000) }),
          playbackUrl: null,
          ingestRtmpUrl: null,
          ingestStreamKey: null,
          ingestWhipUrl: null,
        } as NewStream);
      }
    });

    /** The b-trees whose pages one delivery wrote to the log (no checkpoint in between). */
    const pagesWrittenBy = async (body: Buffer): Promise<Set<string>> => {
      const reader = new Database(dbPath);
      try {
        reader.pragma('wal_checkpoint(TRUNCATE)');
        // A read transaction begun on the empty log: no checkpoint can restart it meanwhile.
        reader.exec('BEGIN');
        reader.prepare('select count(*) from sqlite_schema').get();
        const answer = await app.webhooks.handle('HMS', body, HEADERS);
        expect(answer.status).toBe(200);
        const log = readFileSync(`${dbPath}-wal`);
        reader.exec('COMMIT');
        const owner = new Map<number, string>();
        for (const row of reader.prepare('select name, pageno from dbstat').all() as {
          name: string;
          pageno: number;
        }[]) {
          owner.set(row.pageno, row.name);
        }
        const pageSize = reader.pragma('page_size', { simple: true }) as number;
        const names = new Set<string>();
        for (let at = 32; at + 24 + pageSize <= log.length; at += 24 + pageSize) {
          names.add(owner.get(log.readUInt32BE(at)) ?? '(new page)');
        }
        return names;
      } finally {
        reader.close();
      }
    };

    const live = await pagesWrittenBy(delivery('d1', 'hls.started.success', 's2'));
    expect((await app.services.store.streams.get('livestream', 's2'))?.status).toBe('LIVE');
    expect(live).toContain('livestreams');
    expect(live).toContain('livestreams_status');
    expect(live).not.toContain('livestreams_one_active_per_room');

    const stopped = await pagesWrittenBy(delivery('d2', 'hls.stopped.success', 's2'));
    expect((await app.services.store.streams.get('livestream', 's2'))?.status).toBe('STOPPED');
    expect(stopped).toContain('livestreams_one_active_per_room');
  });
});
