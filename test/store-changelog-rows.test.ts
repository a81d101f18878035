import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { GraphQLObjectType, GraphQLResolveInfo } from 'graphql';
import { afterEach, describe, expect, it } from 'vitest';
import type { LivestreamRecord } from '../src/domain/types.js';
import { isOneReaders, ROW_COLUMN, type RowColumn } from '../src/row-text.js';
import { getSchema } from '../src/schema/index.js';
import { fromRow, ROW_FIELDS, ROW_TIMES, type StreamRow, toSnapshot } from '../src/store/rows.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { tempDir } from './helpers.js';

/**
 * What a resumed subscription reads of the change log on SQLite: each applied change's stream as
 * its snapshot has it, or, for a row written before the log kept snapshots, the stream's current
 * row with that change's status, vendor status and version; the ingest stream key (never kept in
 * history) from the current row; refused events and other kinds left out.
 */

let store: SqliteStore | undefined;
let dir: string | undefined;
afterEach(() => {
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const created = new Date('2026-12-01T10:00:00.000Z');
const base: LivestreamRecord = {
  id: 'ls-1',
  provider: 'HMS',
  roomId: 'room-1',
  externalId: 'ext-1',
  sessionId: null,
  status: 'LIVE',
  vendorStatus: 'running',
  version: 9,
  failureReason: null,
  idempotencyKey: 'key-1',
  startedAt: new Date('2026-12-01T10:00:05.000Z'),
  stoppedAt: null,
  createdAt: created,
  updatedAt: new Date('2026-12-01T10:05:00.000Z'),
  changePosition: 0,
  playbackUrl: 'https://play.example/1.m3u8',
  ingestRtmpUrl: 'rtmp://ingest.example/live',
  ingestStreamKey: 'secret-key',
  ingestWhipUrl: null,
};

describe('the change log as a resumed subscription reads it (SQLite)', () => {
  it('gives each change its snapshot, or the current row with its status when it has none', async () => {
    dir = tempDir();
    const file = join(dir, 'rows.sqlite');
    store = new SqliteStore(file);
    await store.changes.after('livestream', {}, 0, 10); // migrated
    const db = new Database(file);
    try {
      db.prepare(
        `insert into livestreams (id, provider, room_id, external_id, status, vendor_status, version, idempotency_key,
          started_at, created_at, updated_at, change_position, playback_url, ingest_rtmp_url, ingest_stream_key)
         values (@id, @provider, @roomId, @externalId, @status, @vendorStatus, @version, @idempotencyKey,
          @startedAt, @createdAt, @updatedAt, 4, @playbackUrl, @ingestRtmpUrl, @ingestStreamKey)`,
      ).run({
        ...base,
        startedAt: base.startedAt?.getTime(),
        createdAt: base.createdAt.getTime(),
        updatedAt: base.updatedAt.getTime(),
      });
      const event = db.prepare(
        `insert into status_events (id, stream_kind, stream_id, status, vendor_status, source, version, applied, snapshot, at)
         values (?, ?, 'ls-1', ?, ?, 'WEBHOOK', ?, ?, ?, ?)`,
      );
      const first = { status: 'STARTING', vendorStatus: 'starting', version: 7 };
      const at = created.getTime();
      // 1: no snapshot (before the log kept them); 2: a refused event; 3: a snapshot; 4: none again.
      event.run(1, 'livestream', 'STARTING', 'starting', 7, 1, null, at);
      event.run(2, 'livestream', 'FAILED', 'late', 8, 0, null, at);
      event.run(3, 'livestream', 'LIVE', 'running', 8, 1, toSnapshot('livestream', { ...base, version: 8 }), at);
      event.run(4, 'livestream', 'LIVE', 'running', 9, 1, null, at);
      event.run(5, 'recording', 'STARTING', null, 1, 1, null, at);

      const changes = await store.changes.after('livestream', {}, 0, 10);
      expect(changes).toEqual([
        { position: 1, stream: { ...base, ...first, changePosition: 1 } },
        { position: 3, stream: { ...base, version: 8, changePosition: 3 } },
        { position: 4, stream: { ...base, changePosition: 4 } },
      ]);
      // Each is the resumed subscription's alone (its result is not kept for others to share:
      // src/fanout/subscription-execution.ts); the tailer's changes go to every subscriber.
      expect(changes.map((change) => isOneReaders(change.stream))).toEqual([true, true, true]);
      expect((await store.changes.tail(0, 10)).some((change) => isOneReaders(change.stream))).toBe(false);
      expect(await store.changes.after('livestream', { roomId: 'room-1' }, 1, 1)).toEqual([changes[1]]);
      expect(await store.changes.after('livestream', { id: 'ls-1' }, 3, 10)).toEqual([changes[2]]);
      expect(await store.changes.after('livestream', { roomId: 'elsewhere' }, 0, 10)).toEqual([]);
      // The tailer's read of both kinds, by position, a page at a time.
      const tailed = changes.map((change) => ({ kind: 'livestream', ...change }));
      expect(await store.changes.tail(0, 2)).toEqual(tailed.slice(0, 2));
      expect(await store.changes.tail(3, 10)).toEqual(tailed.slice(2));
    } finally {
      db.close();
    }
  });
});

describe('the change log read as one text a row (SQLite)', () => {
  it('gives back each row, position and ingest stream key whatever control characters they hold', async () => {
    // The read answers one text a row: position, U+001F, the row's JSON, U+001F, the key
    // (src/store/sqlite/changelog.ts). JSON escapes every control character, so a U+001F in a
    // vendor status (a snapshot's or, without one, the event's) or in the key splits nothing.
    dir = tempDir();
    const file = join(dir, 'separators.sqlite');
    store = new SqliteStore(file);
    await store.changes.after('livestream', {}, 0, 10); // migrated
    const db = new Database(file);
    try {
      const stream = db.prepare(
        `insert into livestreams (id, provider, room_id, status, vendor_status, version, created_at, updated_at,
          change_position, ingest_stream_key)
         values (@id, 'HMS', 'room-' || @id, 'LIVE', 'running', 9, @at, @at, 4, @key)`,
      );
      const at = created.getTime();
      const key = 'key\x1fwith\x1f\u00e9 "separators"\x1f';
      stream.run({ id: 'ls-1', at, key });
      stream.run({ id: 'ls-2', at, key: null });
      stream.run({ id: 'ls-3', at, key: '' });
      const event = db.prepare(
        `insert into status_events (id, stream_kind, stream_id, status, vendor_status, source, version, applied, snapshot, at)
         values (?, 'livestream', ?, 'LIVE', ?, 'WEBHOOK', 9, 1, ?, ?)`,
      );
      const odd = 'a\x1fb\nc\u0000d\x1f';
      const record = (id: string) => ({
        ...base,
        id,
        roomId: `room-${id}`,
        externalId: null,
        idempotencyKey: null,
        startedAt: null,
        playbackUrl: null,
        ingestRtmpUrl: null,
        vendorStatus: odd,
        createdAt: created,
        updatedAt: created,
      });
      event.run(1, 'ls-1', odd, toSnapshot('livestream', record('ls-1')), at);
      event.run(2, 'ls-1', odd, null, at); // no snapshot: put together by SQL's json_array
      event.run(3, 'ls-2', odd, toSnapshot('livestream', record('ls-2')), at);
      event.run(4, 'ls-3', odd, null, at);
      const expected = [
        { position: 1, stream: { ...record('ls-1'), changePosition: 1, ingestStreamKey: key } },
        { position: 2, stream: { ...record('ls-1'), changePosition: 2, ingestStreamKey: key } },
        { position: 3, stream: { ...record('ls-2'), changePosition: 3, ingestStreamKey: null } },
        { position: 4, stream: { ...record('ls-3'), changePosition: 4, ingestStreamKey: '' } },
      ];
      expect(await store.changes.after('livestream', {}, 0, 10)).toEqual(expected);
      expect(await store.changes.tail(0, 10)).toEqual(expected.map((change) => ({ kind: 'livestream', ...change })));
    } finally {
      db.close();
    }
  });
});

describe('a stream row', () => {
  it('holds the record field ROW_FIELDS names at each index (what the schema declares a snapshot holds)', () => {
    const row = toSnapshot('livestream', { ...base, ingestWhipUrl: 'https://whip.example/1' });
    const elements = JSON.parse(row) as StreamRow;
    const record = fromRow('livestream', elements);
    expect(Object.keys(record).sort()).toEqual([...ROW_FIELDS].sort());
    const recording = fromRow('recording', elements.slice(0, 15) as StreamRow);
    expect(Object.keys(recording).sort()).toEqual(ROW_FIELDS.slice(0, 15).sort());
    ROW_FIELDS.forEach((field, i) => {
      const element = elements[i] ?? null;
      expect(record[field], field).toEqual(ROW_TIMES.has(field) && element !== null ? new Date(element) : element);
    });
    // The snapshot never keeps the ingest stream key; the rest is the record's.
    expect(elements[ROW_FIELDS.indexOf('ingestStreamKey')]).toBeNull();
    expect({ ...record, ingestStreamKey: base.ingestStreamKey }).toEqual({
      ...base,
      ingestWhipUrl: 'https://whip.example/1',
    });
  });

  it("is what the schema's fields declared its elements resolve to (a replay splices them from the text)", () => {
    const full: LivestreamRecord = {
      ...base,
      sessionId: 'session-1',
      failureReason: 'vendor said no',
      stoppedAt: new Date('2026-12-01T11:00:00.000Z'),
      ingestWhipUrl: 'https://whip.example/1',
    };
    const elements = JSON.parse(toSnapshot('livestream', full)) as StreamRow;
    const schema = getSchema();
    for (const typeName of ['Livestream', 'Recording']) {
      const type = schema.getType(typeName) as GraphQLObjectType;
      const declared = Object.values(type.getFields()).filter((field) => field.extensions[ROW_COLUMN]);
      expect(declared.length, typeName).toBeGreaterThanOrEqual(12);
      for (const field of declared) {
        const { index, time } = field.extensions[ROW_COLUMN] as RowColumn;
        const element = elements[index] ?? null;
        const value = field.resolve?.(full, {}, {}, {} as GraphQLResolveInfo);
        expect(value, `${typeName}.${field.name}`).toEqual(time && element !== null ? new Date(element) : element);
      }
    }
  });
});
