import { and, asc, eq, getTableColumns, inArray, lte, sql } from 'drizzle-orm';
import type { StreamKind } from '../../domain/status.js';
import type { AssetInput, RecordingAssetRecord, StatusEventRecord } from '../../domain/types.js';
import { assetMatches, assetValues, rankedHistory, toEventRecords } from '../mappers.js';
import { toSnapshot } from '../rows.js';
import type { NewStatusEvent, StreamWrite } from '../types.js';
import type { GroupBatch } from './batch.js';
import { CHANGE_LOG_LOCK_KEY } from './connect.js';
import { preparedFor } from './prepared.js';
import { writeOf } from './streams.js';
import { recordingAssets, statusEvents } from './tables.js';
import type { Executor } from './transactions.js';

/** A history row's values, as placeholders named for NewStatusEvent's fields. */
const EVENT = {
  streamKind: sql.placeholder('streamKind'),
  streamId: sql.placeholder('streamId'),
  status: sql.placeholder('status'),
  vendorStatus: sql.placeholder('vendorStatus'),
  source: sql.placeholder('source'),
  version: sql.placeholder('version'),
  applied: sql.placeholder('applied'),
  eventId: sql.placeholder('eventId'),
  payload: sql.placeholder('payload'),
  snapshot: sql.placeholder('snapshot'),
  at: sql.placeholder('at'),
};

const insertEvent = preparedFor((x) =>
  x.insert(statusEvents).values(EVENT).returning({ id: statusEvents.id }).prepare('history_insert'),
);

const seen = preparedFor((x) =>
  x
    .select({ id: statusEvents.id })
    .from(statusEvents)
    .where(
      and(
        eq(statusEvents.streamKind, sql.placeholder('kind')),
        eq(statusEvents.streamId, sql.placeholder('streamId')),
        eq(statusEvents.eventId, sql.placeholder('eventId')),
      ),
    )
    .limit(1)
    .prepare('history_has'),
);

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
    /** True when the calling flow's transaction holds the change-log lock already (a group commit). */
    private readonly locked: () => boolean,
    /** The stream update (streams.ts). */
    private readonly update: (kind: StreamKind, id: string, patch: StreamWrite) => Promise<void>,
    /** The calling flow's group commit's batched statements (batch.ts), if it runs in one. */
    private readonly batch: () => GroupBatch | undefined,
  ) {}

  async append(event: NewStatusEvent): Promise<number> {
    // Outside a transaction the lock would end with the statement's own: one is opened.
    if (event.applied && !this.inTransaction()) return this.transaction(() => this.append(event));
    const { snapshot } = event;
    if (!event.applied || this.locked()) {
      // No lock to take here: the hot path of a group commit, prepared (prepared.ts).
      const rows = await insertEvent(this.x()).execute({
        ...event,
        snapshot: snapshot ? toSnapshot(event.streamKind, snapshot) : null,
      });
      const position = Number(rows[0]?.id);
      if (event.applied) this.wrote(position);
      return position;
    }
    const values = sql`${event.streamKind}, ${event.streamId}, ${event.status}, ${event.vendorStatus}, ${event.source},
      ${event.version}::integer, ${event.applied}::boolean, ${event.eventId}, ${event.payload},
      ${snapshot ? toSnapshot(event.streamKind, snapshot) : null}, ${event.at.toISOString()}::timestamptz`;
    const columns = sql.raw(
      'stream_kind, stream_id, status, vendor_status, source, version, applied, event_id, payload, snapshot, at',
    );
    const result = await this.x().execute<{ id: string }>(
      sql`with lock as (select pg_advisory_xact_lock(${CHANGE_LOG_LOCK_KEY.toString()}::bigint))
          insert into status_events (${columns}) select ${values} from lock returning id`,
    );
    const position = Number(result.rows[0]?.id);
    this.wrote(position);
    return position;
  }

  async appendChange(event: NewStatusEvent, patch: StreamWrite): Promise<number> {
    if (!this.inTransaction()) return this.transaction(() => this.appendChange(event, patch));
    const { fields, values } = writeOf(event.streamKind, { ...patch, changePosition: undefined });
    // Outside a group commit the change-log lock is taken with the history row (append).
    const batch = this.locked() ? this.batch() : undefined;
    if (!batch || fields.length === 0) {
      const position = await this.append(event);
      await this.update(event.streamKind, event.streamId, { ...patch, changePosition: position });
      return position;
    }
    // The hot path of a group commit: the history row and the row's update in one statement, with
    // the other members' changes issued in the same turn (batch.ts). No row changed (a vendor
    // event id seen before, or the stream gone) rejects: the group fails, and the member runs
    // again alone, where `has` and the two statements say what happened.
    const position = await batch.change(
      event.streamKind,
      fields,
      { ...event, snapshot: event.snapshot ? toSnapshot(event.streamKind, event.snapshot) : null },
      values,
    );
    this.wrote(position);
    return position;
  }

  async has(kind: StreamKind, streamId: string, eventId: string): Promise<boolean> {
    // In a group commit the unique index on (kind, stream, event id) answers instead, a statement
    // less a delivery: a vendor event seen before makes the write that claims its id change
    // nothing, which fails the member and its group, and the member runs again alone, where this
    // query answers (group.ts, batch.ts).
    // Nothing of the failed attempt is kept; a duplicate whose write would change nothing writes
    // nothing either way. Measured in bench/README.md, "PostgreSQL webhook intake".
    if (this.locked()) return false;
    const rows = await seen(this.x()).execute({ kind, streamId, eventId });
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
