import { and, asc, eq, getTableColumns, inArray, isNull, lte, sql } from 'drizzle-orm';
import type { StreamKind } from '../../domain/status.js';
import type { AssetInput, RecordingAssetRecord, StatusEventRecord } from '../../domain/types.js';
import { recordingAssets, statusEvents } from '../tables.js';
import type { NewStatusEvent } from '../types.js';
import type { Db, OpenedDatabase, Statement } from './database.js';
import { toSnapshot } from './rows.js';

/** status_events: every report about a stream, applied or refused. */
export class SqliteHistory {
  private insertStatement?: Statement<never>;
  private hasStatement?: Statement<number>;

  constructor(
    private readonly opened: OpenedDatabase,
    private readonly db: Db,
  ) {}

  append(event: NewStatusEvent): number {
    this.insertStatement ??= this.opened.prepare<never>(
      'insert into "status_events" (stream_kind, stream_id, status, vendor_status, source, version, applied, event_id, payload, snapshot, at) ' +
        'values (@streamKind, @streamId, @status, @vendorStatus, @source, @version, @applied, @eventId, @payload, @snapshot, @at)',
    );
    const { snapshot, ...fields } = event;
    const result = this.insertStatement.run({
      ...fields,
      applied: event.applied ? 1 : 0,
      snapshot: snapshot ? toSnapshot(event.streamKind, snapshot) : null,
      at: event.at.getTime(),
    });
    // One writer: the autoincrement id is the position, in commit order.
    return Number(result.lastInsertRowid);
  }

  has(kind: StreamKind, streamId: string, eventId: string): boolean {
    this.hasStatement ??= this.opened.prepare<number>(
      'select 1 from "status_events" where stream_kind = @kind and stream_id = @streamId and event_id = @eventId',
      'first',
    );
    return this.hasStatement.get({ kind, streamId, eventId }) !== undefined;
  }

  listFor(kind: StreamKind, streamIds: readonly string[], last: number): StatusEventRecord[] {
    if (streamIds.length === 0 || last <= 0) return [];
    // The latest `last` per stream (numbered newest first within each stream), then oldest first.
    const latest = this.db
      .select({
        id: statusEvents.id,
        rank: sql<number>`row_number() over (partition by ${statusEvents.streamId} order by ${statusEvents.id} desc)`.as(
          'rank',
        ),
      })
      .from(statusEvents)
      .where(and(eq(statusEvents.streamKind, kind), inArray(statusEvents.streamId, [...streamIds])))
      .as('latest');
    const { snapshot: _replayedOnly, ...columns } = getTableColumns(statusEvents);
    return this.db
      .select(columns)
      .from(statusEvents)
      .where(inArray(statusEvents.id, this.db.select({ id: latest.id }).from(latest).where(lte(latest.rank, last))))
      .orderBy(asc(statusEvents.id))
      .all()
      .map((row) => ({
        ...row,
        streamKind: row.streamKind as StreamKind,
        source: row.source as StatusEventRecord['source'],
      }));
  }
}

/** recording_assets: the files a recording produced. */
export class SqliteAssets {
  constructor(private readonly db: Db) {}

  upsert(recordingId: string, assets: readonly AssetInput[], now: Date): void {
    for (const asset of assets) {
      const values = {
        recordingId,
        externalId: asset.externalId ?? null,
        type: asset.type,
        path: asset.path ?? null,
        size: asset.size ?? null,
        durationSeconds: asset.durationSeconds ?? null,
        url: asset.url ?? null,
        urlExpiresAt: asset.urlExpiresAt ?? null,
      };
      const existing =
        asset.externalId == null
          ? undefined
          : this.db
              .select({ id: recordingAssets.id })
              .from(recordingAssets)
              .where(
                and(eq(recordingAssets.recordingId, recordingId), eq(recordingAssets.externalId, asset.externalId)),
              )
              .get();
      const samePath =
        existing || asset.path == null
          ? undefined
          : this.db
              .select({ id: recordingAssets.id, externalId: recordingAssets.externalId })
              .from(recordingAssets)
              .where(
                and(
                  eq(recordingAssets.recordingId, recordingId),
                  eq(recordingAssets.path, asset.path),
                  asset.externalId == null ? undefined : isNull(recordingAssets.externalId),
                ),
              )
              .get();
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
