import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { inArray } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import type { StreamKind } from '../src/domain/status.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { livestreams, recordings } from '../src/store/tables.js';
import type { NewStream } from '../src/store/types.js';
import { tempDir } from './helpers.js';
import { streamRow } from './support/rows.js';

/**
 * `listActive` reads its rows as JSON and `streams.get` as arrays, both mapped by hand (the query
 * and webhook paths): they must give exactly the records drizzle's own mapping gives,
 * nulls, times and non-ASCII text included, in the same order, with the same filters.
 */

let store: SqliteStore | undefined;
afterEach(() => store?.close());

function stream(kind: StreamKind, i: number, status: string, extra: Partial<NewStream> = {}): NewStream {
  const at = new Date(Date.UTC(2026, 0, 1, 12, 0, 0, i));
  return streamRow(`${kind}-${i}`, {
    provider: i % 2 ? 'HMS' : 'SANDBOX',
    roomId: `room-${i}`,
    externalId: i % 4 ? `ext-${i}` : null,
    status,
    vendorStatus: i % 2 ? 'héllo "quoted" \\ ✓ 🎥' : null,
    version: i + 1,
    idempotencyKey: `key-${kind}-${i}`,
    startedAt: i % 2 ? at : null,
    createdAt: at,
    updatedAt: new Date(at.getTime() + 1500),
    nextPollAt: at,
    ...extra,
  });
}

describe('Store.listActive', () => {
  it('gives the records getStream gives, newest first, filtered', async () => {
    store = new SqliteStore(':memory:');
    const s = store;
    await s.transaction(async () => {
      for (let i = 0; i < 12; i++) {
        await s.streams.insert('livestream', {
          ...stream('livestream', i, i === 5 ? 'STOPPED' : i % 3 ? 'LIVE' : 'STARTING'),
          playbackUrl: i % 2 ? `https://cdn.example/${i}.m3u8` : null,
          ingestRtmpUrl: 'rtmp://ingest.example/live',
          ingestStreamKey: i % 2 ? `sk-${i}` : null,
          ingestWhipUrl: null,
        } as NewStream);
        await s.streams.insert('recording', stream('recording', i, i === 7 ? 'COMPLETED' : 'RECORDING'));
      }
    });
    for (const kind of ['livestream', 'recording'] as const) {
      for (const filter of [
        {},
        { provider: 'HMS' as const },
        { roomId: 'room-1' },
        { provider: 'SANDBOX' as const, roomId: 'room-0' },
      ]) {
        const listed = await s.streams.listActive(kind, filter);
        expect(listed.length).toBeGreaterThan(0);
        // The same rows read through drizzle's own mapping, narrowed to the record's fields.
        const table = kind === 'livestream' ? livestreams : recordings;
        const fields = Object.keys(listed[0] ?? {});
        const byDrizzle = new Map(
          s.db
            .select()
            .from(table)
            .where(
              inArray(
                table.id,
                listed.map((record) => record.id),
              ),
            )
            .all()
            .map((row) => [row.id, Object.fromEntries(fields.map((field) => [field, row[field as keyof typeof row]]))]),
        );
        expect(listed).toEqual(listed.map((record) => byDrizzle.get(record.id)));
        expect(listed).toEqual(await Promise.all(listed.map((record) => s.streams.get(kind, record.id))));
        const expectedIds = (
          await Promise.all(Array.from({ length: 12 }, (_, i) => s.streams.get(kind, `${kind}-${i}`)))
        )
          .filter((r) => r && !['STOPPED', 'COMPLETED'].includes(r.status))
          .filter((r) => !('provider' in filter) || r?.provider === filter.provider)
          .filter((r) => !('roomId' in filter) || r?.roomId === filter.roomId)
          .map((r) => r?.id)
          .reverse();
        expect(listed.map((r) => r.id)).toEqual(expectedIds);
      }
    }
    expect(await s.streams.listActive('livestream', { roomId: 'nowhere' })).toEqual([]);
  });
});

describe('Store.listActive between changes', () => {
  it('answers again without reading while nothing changed, and sees every change made since', async () => {
    const dir = tempDir();
    const file = join(dir, 'active.sqlite');
    store = new SqliteStore(file);
    const s = store;
    // Another connection to the same file: another process sharing the database.
    const other = new SqliteStore(file);
    try {
      await s.transaction(async () => {
        for (let i = 0; i < 3; i++) await s.streams.insert('livestream', stream('livestream', i, 'LIVE'));
      });
      const reads: string[] = [];
      const stop = s.onStatement((sql) => reads.push(sql));
      const first = await s.streams.listActive('livestream', {});
      const again = await s.streams.listActive('livestream', {});
      stop();
      expect(again).toEqual(first);
      expect(reads.filter((sql) => sql.includes('from "livestreams"'))).toHaveLength(1);

      // A change through this connection.
      await s.streams.update('livestream', 'livestream-0', { status: 'STOPPED', version: 2 });
      expect((await s.streams.listActive('livestream', {})).map((r) => r.id)).toEqual(['livestream-2', 'livestream-1']);
      // A change committed by the other connection.
      await other.streams.update('livestream', 'livestream-1', { vendorStatus: 'changed elsewhere', version: 2 });
      expect((await s.streams.listActive('livestream', {})).map((r) => [r.id, r.vendorStatus, r.version])).toEqual([
        ['livestream-2', null, 3],
        ['livestream-1', 'changed elsewhere', 2],
      ]);
      await other.streams.insert('livestream', stream('livestream', 3, 'STARTING'));
      expect((await s.streams.listActive('livestream', {})).map((r) => r.id)).toEqual([
        'livestream-3',
        'livestream-2',
        'livestream-1',
      ]);
      // A write rolled back leaves the list as it was.
      await expect(
        s.transaction(async () => {
          await s.streams.update('livestream', 'livestream-2', { status: 'FAILED', version: 2 });
          expect((await s.streams.listActive('livestream', {})).map((r) => r.id)).toEqual([
            'livestream-3',
            'livestream-1',
          ]);
          throw new Error('undo');
        }),
      ).rejects.toThrow('undo');
      expect((await s.streams.listActive('livestream', {})).map((r) => r.id)).toEqual([
        'livestream-3',
        'livestream-2',
        'livestream-1',
      ]);
    } finally {
      other.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Store.streams.findByExternalId', () => {
  it('answers the newest of the streams a vendor id names, whatever order they were written in', async () => {
    store = new SqliteStore(':memory:');
    const s = store;
    // A vendor that reuses its job id: three recordings, the newest written second.
    await s.transaction(async () => {
      for (const i of [1, 3, 2]) {
        await s.streams.insert(
          'recording',
          stream('recording', i, 'COMPLETED', { provider: 'HMS', externalId: 'job-1' }),
        );
      }
      await s.streams.insert(
        'recording',
        stream('recording', 4, 'RECORDING', { provider: 'SANDBOX', externalId: 'job-1' }),
      );
    });
    expect((await s.streams.findByExternalId('recording', 'HMS', 'job-1'))?.id).toBe('recording-3');
    expect((await s.streams.findByExternalId('recording', 'SANDBOX', 'job-1'))?.id).toBe('recording-4');
    expect(await s.streams.findByExternalId('recording', 'HMS', 'job-2')).toBeUndefined();
  });
});
