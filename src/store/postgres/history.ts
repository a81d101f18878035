import { and, asc, eq, getTableColumns, inArray, lte, sql } from 'drizzle-orm';
import type { StreamKind } from '../../domain/status.js';
import type { AssetInput, RecordingAssetRecord, StatusEventRecord } from '../../domain/types.js';
import { assetMatches, assetValues, rankedHistory, toEventRecords } from '../mappers.js';
import { toSnapshot } from '../rows.js';
import type { NewStatusEvent } from '../types.js';
import { CHANGE_LOG_LOCK_KEY } from './connect.js';
import { recordingAssets, statusEvents } from './tables.js';
import type { Executor } from './transactions.js';

/**
 * status_events: every report about a stream, applied or refused. An applied one is a change-log
 * entry: it is inserted right after `pg_advisory_xact_lock(CHANGE_LOG_LOCK_KEY)` in the same
 * statement, and the lock is held to the commit, so applied positions become visible in position
 * order (writers of applied rows commit one after the other; refused rows take no lock).
 */
export class PgHistory {
  constructor(
    private readonly x: () => Executor,
    private readonly transaction: <T>(fn: () => Promise<T>) => Promise<T>,
    private readonly inTransaction: () => boolean,
    private readonly wrote: (position: number) => void,
  ) {}

  async append(event: NewStatusEvent): Promise<number> {
    // Outside a transaction the lock would end with the statement's own: one is opened.
    if (event.applied && !this.inTransaction()) return this.transaction(() => this.append(event));
    const { snapshot } = event;
    const values = sql`${event.streamKind}, ${event.streamId}, ${event.status}, ${event.vendorStatus}, ${event.source},
      ${event.version}::integer, ${event.applied}::boolean, ${event.eventId}, ${event.payload},
      ${snapshot ? toSnapshot(event.streamKind, snapshot) : null}, ${event.at.toISOString()}::timestamptz`;
    const columns = sql.raw(
      'stream_kind, stream_id, status, vendor_status, source, version, applied, event_id, payload, snapshot, at',
    );
    const statement = event.applied
      ? sql`with lock as (select pg_advisory_xact_lock(${CHANGE_LOG_LOCK_KEY.toString()}::bigint))
          insert into status_events (${columns}) select ${values} from lock returning id`
      : sql`insert into status_events (${columns}) values (${values}) returning id`;
    const result = await this.x().execute<{ id: string }>(statement);
    const position = Number(result.rows[0]?.id);
    if (event.applied) this.wrote(position);
    return position;
  }

  async has(kind: StreamKind, streamId: string, eventId: string): Promise<boolean> {
    const rows = await this.x()
      .select({ id: statusEvents.id })
      .from(statusEvents)
      .where(
        and(eq(statusEvents.streamKind, kind), eq(statusEvents.streamId, streamId), eq(statusEvents.eventId, eventId)),
      )
      .limit(1);
    return rows.length > 0;
  }

  async listFor(kind: StreamKind, streamIds: readonly string[], last: number): Promise<StatusEventRecord[]> {
    if (streamIds.length === 0 || last <= 0) return [];
    const db = this.x();
    // The latest `last` per stream (numbered newest first within each stream), then oldest first.
    const ranked = rankedHistory(statusEvents, kind, streamIds);
    const latest = db.select(ranked.fields).from(statusEvents).where(ranked.where).as('latest');
    const { snapshot: _replayedOnly, ...columns } = getTableColumns(statusEvents);
    const rows = await db
      .select(columns)
      .from(statusEvents)
      .where(inArray(statusEvents.id, db.select({ id: latest.id }).from(latest).where(lte(latest.rank, last))))
      .orderBy(asc(statusEvents.id));
    return toEventRecords(rows);
  }
}

/** recording_assets: the files a recording produced. */
export class PgAssets {
  constructor(private readonly x: () => Executor) {}

  async upsert(recordingId: string, assets: readonly AssetInput[], now: Date): Promise<void> {
    const db = this.x();
    for (const asset of assets) {
      const values = assetValues(recordingId, asset);
      const match = assetMatches(recordingAssets, recordingId, asset);
      const [existing] = match.byExternalId
        ? await db.select({ id: recordingAssets.id }).from(recordingAssets).where(match.byExternalId).limit(1)
        : [];
      const [samePath] =
        existing || !match.byPath
          ? []
          : await db.select({ id: recordingAssets.id }).from(recordingAssets).where(match.byPath).limit(1);
      if (existing) {
        await db.update(recordingAssets).set(values).where(eq(recordingAssets.id, existing.id));
      } else if (samePath) {
        const { externalId, ...rest } = values;
        await db
          .update(recordingAssets)
          .set(externalId == null ? rest : values)
          .where(eq(recordingAssets.id, samePath.id));
      } else {
        await db.insert(recordingAssets).values({ id: crypto.randomUUID(), createdAt: now, ...values });
      }
    }
  }

  async updateUrl(id: string, url: string, urlExpiresAt: Date | null): Promise<void> {
    await this.x().update(recordingAssets).set({ url, urlExpiresAt }).where(eq(recordingAssets.id, id));
  }

  listFor(recordingIds: readonly string[]): Promise<RecordingAssetRecord[]> {
    if (recordingIds.length === 0) return Promise.resolve([]);
    return this.x()
      .select()
      .from(recordingAssets)
      .where(inArray(recordingAssets.recordingId, [...recordingIds]))
      .orderBy(asc(recordingAssets.createdAt));
  }
}
