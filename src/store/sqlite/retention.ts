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

  pruneHistory(kind: StreamKind, request: PruneRequest): PruneBatch {
    const statements = this.kindStatements(kind);
    return this.inTransaction(() => {
      const streamIds = statements.streams.all({
        before: request.before.getTime(),
        streams: Math.min(STREAMS_PER_BATCH, request.limit),
      });
      let pruned = 0;
      let highest = 0;
      for (const streamId of streamIds) {
        const budget = request.limit - pruned;
        if (budget <= 0) break;
        const ids = statements.rows.all({ kind, streamId, limit: budget });
        if (ids.length > 0) {
          this.nullRows.run({ ids: JSON.stringify(ids) });
          pruned += ids.length;
          highest = Math.max(highest, ...ids);
        }
        // Fewer than it could take: this stream has nothing more to prune.
        if (ids.length < budget) statements.markStream.run({ streamId, now: request.now.getTime() });
      }
      if (highest > 0) this.raiseMark.run({ position: highest });
      return { pruned, done: streamIds.length === 0 };
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
