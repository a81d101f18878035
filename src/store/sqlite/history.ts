import { asc, eq, getTableColumns, inArray, lte } from 'drizzle-orm';
import type { StreamKind } from '../../domain/status.js';
import type { AssetInput, RecordingAssetRecord, StatusEventRecord } from '../../domain/types.js';
import { assetMatches, assetValues, rankedHistory, toEventRecords } from '../mappers.js';
import { recordingAssets, statusEvents } from '../tables.js';
import type { NewStatusEvent, StreamWrite } from '../types.js';
import type { Db, OpenedDatabase, Statement } from './database.js';
import { toSnapshot } from './rows.js';
import type { SqliteStreams } from './streams.js';

/** status_events: every report about a stream, applied or refused. */
export class SqliteHistory {
  private insertStatement?: Statement<never>;
  private hasStatement?: Statement<number>;

  constructor(
    private readonly opened: OpenedDatabase,
    private readonly db: Db,
    private readonly streams: Pick<SqliteStreams, 'update'>,
  ) {}

  append(event: NewStatusEvent): number {
    // Positional values in an array, built field by field: better-sqlite3 binds them faster than
    // it looks eleven names up in an object, and no copy of the event is spread (bench/README.md,
    // "SQLite intake, 2026-12-06, late session").
    this.insertStatement ??= this.opened.prepare<never>(
      'insert into "status_events" (stream_kind, stream_id, status, vendor_status, source, version, applied, event_id, payload, snapshot, at) ' +
        'values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const result = this.insertStatement.run([
      event.streamKind,
      event.streamId,
      event.status,
      event.vendorStatus,
      event.source,
      event.version,
      event.applied ? 1 : 0,
      event.eventId,
      event.payload,
      event.snapshot ? toSnapshot(event.streamKind, event.snapshot) : null,
      event.at.getTime(),
    ]);
    // One writer: the autoincrement id is the position, in commit order.
    return Number(result.lastInsertRowid);
  }

  appendChange(event: NewStatusEvent, patch: StreamWrite): number {
    const changePosition = this.append(event);
    // Not `{ ...patch, changePosition }`: adding a field to a spread copy is the slow path (lifecycle's `write`).
    const row: StreamWrite = Object.assign({}, patch);
    row.changePosition = changePosition;
    this.streams.update(event.streamKind, event.streamId, row);
    return changePosition;
  }

  has(kind: StreamKind, streamId: string, eventId: string): boolean {
    this.hasStatement ??= this.opened.prepare<number>(
      'select 1 from "status_events" where stream_kind = ? and stream_id = ? and event_id = ?',
      'first',
    );
    return this.hasStatement.get([kind, streamId, eventId]) !== undefined;
  }

  listFor(kind: StreamKind, streamIds: readonly string[], last: number): StatusEventRecord[] {
    if (streamIds.length === 0 || last <= 0) return [];
    // The latest `last` per stream (numbered newest first within each stream), then oldest first.
    const ranked = rankedHistory(statusEvents, kind, streamIds);
    const latest = this.db.select(ranked.fields).from(statusEvents).where(ranked.where).as('latest');
    const { snapshot: _replayedOnly, ...columns } = getTableColumns(statusEvents);
    const rows = this.db
      .select(columns)
      .from(statusEvents)
      .where(inArray(statusEvents.id, this.db.select({ id: latest.id }).from(latest).where(lte(latest.rank, last))))
      .orderBy(asc(statusEvents.id))
      .all();
    return toEventRecords(rows);
  }
}

/** recording_assets: the files a recording produced. */
export class SqliteAssets {
  constructor(private readonly db: Db) {}

  upsert(recordingId: string, assets: readonly AssetInput[], now: Date): void {
    for (const asset of assets) {
      const values = assetValues(recordingId, asset);
      const match = assetMatches(recordingAssets, recordingId, asset);
      const existing = match.byExternalId
        ? this.db.select({ id: recordingAssets.id }).from(recordingAssets).where(match.byExternalId).get()
        : undefined;
      const samePath =
        existing || !match.byPath
          ? undefined
          : this.db.select({ id: recordingAssets.id }).from(recordingAssets).where(match.byPath).get();
      if (existing) {
        this.db.update(recordingAssets).set(values).where(eq(recordingAssets.id, existing.id)).run();
      } else if (samePath) {
        const { externalId, ...rest } = values;
        this.db
          .update(recordingAssets)
          .set(externalId == null ? rest : values)
          .where(eq(recordingAssets.id, samePath.id))
          .run();
      } else {
        this.db
          .insert(recordingAssets)
          .values({ id: crypto.randomUUID(), createdAt: now, ...values })
          .run();
      }
    }
  }

  updateUrl(id: string, url: string, urlExpiresAt: Date | null): void {
    this.db.update(recordingAssets).set({ url, urlExpiresAt }).where(eq(recordingAssets.id, id)).run();
  }

  listFor(recordingIds: readonly string[]): RecordingAssetRecord[] {
    if (recordingIds.length === 0) return [];
    return this.db
      .select()
      .from(recordingAssets)
      .where(inArray(recordingAssets.recordingId, [...recordingIds]))
      .orderBy(asc(recordingAssets.createdAt))
      .all();
  }
}
