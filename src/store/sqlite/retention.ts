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
/**
 * Rows per statement within a batch: the batch checks its time budget (`budgetMs`) after each, so
 * a batch overruns its budget by one chunk at most (about 0.7 ms of CPU for 100 history rows,
 * bench/README.md, "Retention, 2026-12-05 evening session").
 */
const CHUNK = 100;

interface KindStatements {
  streams: Statement<string>;
  rows: Statement<number>;
  markStream: Statement<never>;
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
        // Served by the partial index `<table>_prunable`: only final streams not yet pruned.
        streams: this.opened.prepare<string>(
          `select id from "${table}" where ${FINAL_SQL[kind]} and history_pruned_at is null ` +
            'and updated_at < @before order by updated_at limit @streams',
          'first',
        ),
        // The stream's prefix of `status_events_event_id`.
        rows: this.opened.prepare<number>(
          'select id from "status_events" where stream_kind = @kind and stream_id = @streamId ' +
            'and (payload is not null or snapshot is not null) limit @limit',
          'first',
        ),
        markStream: this.opened.prepare(`update "${table}" set history_pruned_at = @now where id = @streamId`),
      };
      this.statements.set(kind, statements);
    }
    return statements;
  }

  /**
   * Up to `limit` rows, a chunk of at most CHUNK per statement, until `budgetMs` has passed: the
   * batch runs on the event loop, and its length is the longest wait it adds to a webhook
   * (bench/README.md, "Retention, 2026-12-05 evening session").
   */
  pruneHistory(kind: StreamKind, request: PruneRequest): PruneBatch {
    const statements = this.kindStatements(kind);
    const overBudget = deadline(request);
    return this.inTransaction(() => {
      const streamIds = statements.streams.all({
        before: request.before.getTime(),
        streams: Math.min(STREAMS_PER_BATCH, request.limit),
      });
      let pruned = 0;
      let highest = 0;
      streams: for (const streamId of streamIds) {
        for (;;) {
          const budget = request.limit - pruned;
          if (budget <= 0 || (pruned > 0 && overBudget())) break streams;
          const chunk = Math.min(budget, CHUNK);
          const ids = statements.rows.all({ kind, streamId, limit: chunk });
          if (ids.length > 0) {
            this.nullRows.run({ ids: JSON.stringify(ids) });
            pruned += ids.length;
            highest = Math.max(highest, ...ids);
          }
          // Fewer than it could take: this stream has nothing more to prune.
          if (ids.length < chunk) {
            statements.markStream.run({ streamId, now: request.now.getTime() });
            break;
          }
        }
      }
      if (highest > 0) this.raiseMark.run({ position: highest });
      return { pruned, done: streamIds.length === 0 };
    });
  }

  /** Chunks of at most CHUNK deliveries, until `limit` or `budgetMs` (as `pruneHistory`). */
  pruneDeliveries(request: PruneRequest): PruneBatch {
    const overBudget = deadline(request);
    const before = request.before.getTime();
    let pruned = 0;
    while (pruned < request.limit && !(pruned > 0 && overBudget())) {
      const chunk = Math.min(request.limit - pruned, CHUNK);
      const deleted = this.deleteDeliveries.run({ limit: chunk, before }).changes;
      pruned += deleted;
      if (deleted < chunk) return { pruned, done: true };
    }
    return { pruned, done: false };
  }

  watermark(): number {
    return this.readMark.get() ?? 0;
  }
}

/** True once the request's time budget has passed (never without one). */
function deadline(request: PruneRequest): () => boolean {
  if (request.budgetMs === undefined) return () => false;
  const end = performance.now() + request.budgetMs;
  return () => performance.now() >= end;
}
