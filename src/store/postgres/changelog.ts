import { and, asc, desc, eq, gt, type SQL, sql } from 'drizzle-orm';
import type { StreamKind } from '../../domain/status.js';
import type { LivestreamRecord, RecordOf } from '../../domain/types.js';
import { loggedRecord, recordFromText } from '../logged-record.js';
import type { ChangeFilter, LoggedChange, TailedChange } from '../types.js';
import { preparedFor } from './prepared.js';
import { RECORD_FIELDS, type StreamTable, TABLES } from './records.js';
import { changeLogPruned, statusEvents as e, livestreams } from './tables.js';
import type { Executor } from './transactions.js';

/**
 * The change log on PostgreSQL: the applied rows of status_events, by position (their id). Every
 * writer of an applied row holds the change-log lock from its insert to its commit (see
 * history.ts), so a reader that sees a position sees every smaller applied one.
 */
export class PgChangeLog {
  constructor(private readonly x: () => Executor) {}

  async after<K extends StreamKind>(
    kind: K,
    filter: ChangeFilter,
    after: number,
    limit: number,
  ): Promise<LoggedChange<K>[]> {
    // The change-log tailer's read (every replica, after every commit): prepared (prepared.ts).
    const rows =
      filter.id || filter.provider || filter.roomId
        ? await this.select(kind, filter, after, limit)
        : await ALL_AFTER[kind](this.x()).execute({ after, limit });
    return rows.map(({ position, snapshot, status, vendorStatus, version, current }) => {
      const now = current as unknown as RecordOf<K>;
      // The ingest stream key is never kept in history: it comes from the current row.
      const streamKey = kind === 'livestream' ? (now as LivestreamRecord).ingestStreamKey : null;
      // Every applied row written on PostgreSQL has its snapshot, made the record when first read
      // (logged-record.ts); the current row is the fallback.
      if (snapshot !== null) return { position, stream: loggedRecord(kind, position, snapshot, streamKey, true) };
      const stream = { ...now, status, vendorStatus, version } as RecordOf<K>;
      stream.changePosition = position;
      if (kind === 'livestream') (stream as LivestreamRecord).ingestStreamKey = streamKey;
      return { position, stream };
    });
  }

  async tail(after: number, limit: number): Promise<TailedChange[]> {
    // One statement for both kinds (the tailer's read after every group commit, on every replica):
    // it read each kind apart, two pool checkouts and autocommits (bench/README.md, "PostgreSQL
    // intake, 2026-12-05, night session"). The ingest stream key comes from the current row.
    const rows = await TAIL(this.x()).execute({ after, limit });
    const changes: TailedChange[] = [];
    for (const { position, kind, snapshot, streamKey } of rows) {
      if (snapshot === null) {
        // No snapshot (pruned by retention): the per-kind read builds the change from the current row.
        const [change] = await this.after(kind as StreamKind, {}, position - 1, 1);
        if (change) changes.push({ kind, ...change } as TailedChange);
        continue;
      }
      const stream = recordFromText(kind as StreamKind, position, snapshot, streamKey);
      changes.push({ kind, position, stream } as TailedChange);
    }
    return changes;
  }

  private select<K extends StreamKind>(kind: K, filter: ChangeFilter, after: number, limit: number) {
    return query(this.x(), kind, filter, gt(e.id, after)).limit(limit);
  }

  async isPruned(position: number): Promise<boolean> {
    const rows = await this.x().select({ position: changeLogPruned.position }).from(changeLogPruned).limit(1);
    const pruned = rows[0]?.position;
    return pruned !== undefined && position < pruned;
  }

  async head(): Promise<number> {
    // Backwards along the primary key: the newest applied row is among the last few.
    const rows = await this.x()
      .select({ position: e.id })
      .from(e)
      .where(eq(e.applied, true))
      .orderBy(desc(e.id))
      .limit(1);
    return rows[0]?.position ?? 0;
  }
}

/** Applied rows of `kind` matching `filter`, by position, with the stream's current row. */
function query(x: Executor, kind: StreamKind, filter: ChangeFilter, after: SQL) {
  const s: StreamTable = TABLES[kind];
  return x
    .select({
      position: e.id,
      snapshot: e.snapshot,
      status: e.status,
      vendorStatus: e.vendorStatus,
      version: e.version,
      current: RECORD_FIELDS[kind],
    })
    .from(e)
    .innerJoin(s, eq(s.id, e.streamId))
    .where(
      and(
        eq(e.streamKind, kind),
        eq(e.applied, true),
        after,
        filter.id ? eq(e.streamId, filter.id) : undefined,
        filter.provider ? eq(s.provider, filter.provider) : undefined,
        filter.roomId ? eq(s.roomId, filter.roomId) : undefined,
      ),
    )
    .orderBy(asc(e.id));
}

function allAfter(kind: StreamKind) {
  return preparedFor((x) =>
    query(x, kind, {}, gt(e.id, sql.placeholder('after')))
      .limit(sql.placeholder('limit'))
      .prepare(`${kind}_changes_after`),
  );
}

const ALL_AFTER = { livestream: allAfter('livestream'), recording: allAfter('recording') };

const TAIL = preparedFor((x) =>
  x
    .select({ position: e.id, kind: e.streamKind, snapshot: e.snapshot, streamKey: livestreams.ingestStreamKey })
    .from(e)
    .leftJoin(livestreams, and(eq(e.streamKind, 'livestream'), eq(livestreams.id, e.streamId)))
    .where(and(eq(e.applied, true), gt(e.id, sql.placeholder('after'))))
    .orderBy(asc(e.id))
    .limit(sql.placeholder('limit'))
    .prepare('changes_tail'),
);
