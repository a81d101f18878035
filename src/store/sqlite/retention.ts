import type { StreamKind } from '../../domain/status.js';
import type { PruneBatch, PruneRequest } from '../types.js';
import type { OpenedDatabase, Statement } from './database.js';
import { TABLE_NAMES } from './rows.js';

/** The final statuses, as the partial `<table>_prunable` indexes (tables.ts) spell them. */
const FINAL_SQL: Record<StreamKind, string> = {
  livestream: `status in ('STOPPED', 'FAILED')`,
  recording: `status in ('COMPLETED', 'FAILED')`,
};

/** Most streams one batch looks at: a batch is bounded by its history rows, this bounds the reads. */
const STREAMS_PER_BATCH = 100;

interface KindStatements {
  streams: Statement<string>;
  rows: Statement<[number, number, number]>;
  markStreams: Statement<never>;
}

/**
 * Retention on SQLite. A batch runs synchronously in its own transaction (`runSync`, given by
 * the store), so a reader never sees pruned rows without the watermark that says so.
 */
export class SqliteRetention {
  private readonly statements = new Map<StreamKind, KindStatements>();
  private readonly nullRows: Statement<never>;
  private readonly raiseMark: Statement<never>;
  private readonly readMark: Statement<number>;
  private readonly deleteDeliveries: Statement<never>;

  constructor(
    private readonly opened: OpenedDatabase,
    private readonly inTransaction: <T>(fn: () => T) => T,
  ) {
    this.nullRows = opened.prepare(
      'update "status_events" set payload = null, snapshot = null where id in (select value from json_each(@ids))',
    );
    this.raiseMark = opened.prepare(
      'insert into "change_log_pruned" (id, position) values (1, @position) ' +
        'on conflict (id) do update set position = max(position, excluded.position)',
    );
    this.readMark = opened.prepare<number>('select position from "change_log_pruned" where id = 1', 'first');
    // Oldest first by id (received order), skipping waiting ones; a delivery received after
    // `before` ends the batch with it (the ones behind it are newer still).
    this.deleteDeliveries = opened.prepare(
      'delete from "webhook_deliveries" where id in (select id from "webhook_deliveries" ' +
        'where processed_at is not null order by id limit @limit) and received_at < @before',
    );
  }

  private kindStatements(kind: StreamKind): KindStatements {
    let statements = this.statements.get(kind);
    if (!statements) {
      const table = TABLE_NAMES[kind];
      statements = {
        // Along the partial index `<table>_prunable` (only final streams not yet pruned, in
        // `updated_at` order), named: without statistics SQLite chose `<table>_status` and sorted
        // every final stream for each batch, 36 ms of the event loop a batch with 200,000 of them
        // (0.2 ms along this one; bench/README.md, "Retention, 2026-12-06, afternoon session").
        streams: this.opened.prepare<string>(
          `select id from "${table}" indexed by "${table}_prunable" where ${FINAL_SQL[kind]} and history_pruned_at is null ` +
            'and updated_at < @before order by updated_at limit @streams',
          'first',
        ),
        // The rows left to prune of the batch's streams, stream after stream in list order (each
        // its prefix of `status_events_event_id`), with each stream's place in the list. CROSS
        // JOIN makes the list the outer loop (SQLite keeps that order) and json_each walks it in
        // order, so LIMIT stops the read at the batch's size: an ORDER BY here sorted every row
        // of every listed stream first (5× the rows read with batches of 100).
        rows: this.opened.prepare<[number, number, number]>(
          'select e.id, s.key, e.applied from json_each(@streams) s cross join "status_events" e ' +
            'on e.stream_kind = @kind and e.stream_id = s.value ' +
            'where e.payload is not null or e.snapshot is not null limit @limit',
          'arrays',
        ),
        markStreams: this.opened.prepare(
          `update "${table}" set history_pruned_at = @now where id in (select value from json_each(@streams))`,
        ),
      };
      this.statements.set(kind, statements);
    }
    return statements;
  }

  /**
   * One batch: a few statements over up to STREAMS_PER_BATCH streams rather than three per
   * stream, which cost more than the rows' own work (bench/README.md, "Retention, 2026-12-05,
   * night session").
   */
  pruneHistory(kind: StreamKind, request: PruneRequest): PruneBatch {
    const statements = this.kindStatements(kind);
    return this.inTransaction(() => {
      const streamIds = statements.streams.all({
        before: request.before.getTime(),
        streams: Math.min(STREAMS_PER_BATCH, request.limit),
      });
      if (streamIds.length === 0) return { pruned: 0, done: true };
      const streams = JSON.stringify(streamIds);
      const rows = statements.rows.all({ kind, streams, limit: request.limit });
      let highest = 0;
      const ids: number[] = [];
      for (const [id, , applied] of rows) {
        ids.push(id);
        // The watermark is a change-log position: applied rows only (as on PostgreSQL, where a
        // refused row's id may be above an applied change still committing).
        if (applied === 1 && id > highest) highest = id;
      }
      if (ids.length > 0) this.nullRows.run({ ids: JSON.stringify(ids) });
      // Streams are taken in list order: with the batch full, the last one taken may have rows
      // left and the ones after it were not reached; every stream before it is done.
      const last = rows.length < request.limit ? streamIds.length : (rows[rows.length - 1]?.[1] ?? 0);
      if (last > 0)
        statements.markStreams.run({ streams: JSON.stringify(streamIds.slice(0, last)), now: request.now.getTime() });
      if (highest > 0) this.raiseMark.run({ position: highest });
      return { pruned: ids.length, done: false };
    });
  }

  pruneDeliveries(request: PruneRequest): PruneBatch {
    const deleted = this.deleteDeliveries.run({ limit: request.limit, before: request.before.getTime() }).changes;
    return { pruned: deleted, done: deleted < request.limit };
  }

  watermark(): number {
    return this.readMark.get() ?? 0;
  }
}
