import { sql } from 'drizzle-orm';
import type { StreamKind } from '../../domain/status.js';
import type { PruneBatch, PruneRequest } from '../types.js';
import type { Executor } from './transactions.js';

/** The final statuses, as the partial `<table>_prunable` indexes (tables.ts) spell them. */
const FINAL_SQL: Record<StreamKind, string> = {
  livestream: `status in ('STOPPED', 'FAILED')`,
  recording: `status in ('COMPLETED', 'FAILED')`,
};
const TABLE: Record<StreamKind, string> = { livestream: 'livestreams', recording: 'recordings' };

/** Most streams one batch looks at: a batch is bounded by its history rows, this bounds the reads. */
const STREAMS_PER_BATCH = 100;

/**
 * Retention on PostgreSQL, as on SQLite (sqlite/retention.ts): each batch is one transaction that
 * nulls the payloads and snapshots of old final streams' history, marks the streams done and
 * raises the watermark (`change_log_pruned`) in the same commit, so a reader never sees pruned
 * rows without the watermark that says so. Rows already being pruned by another replica are
 * skipped (`SKIP LOCKED`).
 */
export class PgRetention {
  constructor(
    private readonly x: () => Executor,
    private readonly transaction: <T>(fn: () => Promise<T>) => Promise<T>,
  ) {}

  pruneHistory(kind: StreamKind, request: PruneRequest): Promise<PruneBatch> {
    const table = sql.raw(`"${TABLE[kind]}"`);
    return this.transaction(async () => {
      const streams = await this.x().execute<{ id: string }>(
        sql`select id from ${table} where ${sql.raw(FINAL_SQL[kind])} and history_pruned_at is null
          and updated_at < ${request.before.toISOString()}::timestamptz
          order by updated_at limit ${Math.min(STREAMS_PER_BATCH, request.limit)} for update skip locked`,
      );
      let pruned = 0;
      let highest = 0;
      for (const { id: streamId } of streams.rows) {
        const budget = request.limit - pruned;
        if (budget <= 0) break;
        const rows = await this.x().execute<{ id: string; applied: boolean }>(
          sql`update status_events set payload = null, snapshot = null where id in (
            select id from status_events where stream_kind = ${kind} and stream_id = ${streamId}
            and (payload is not null or snapshot is not null) limit ${budget}) returning id, applied`,
        );
        // Applied rows only: the watermark is a change-log position. A refused row's id is taken
        // without the change-log lock, so it may be above an applied change still committing, and a
        // cursor given at it (changeCursor of a stream idle since) would resume past that change.
        for (const row of rows.rows) if (row.applied) highest = Math.max(highest, Number(row.id));
        pruned += rows.rows.length;
        // Fewer than it could take: this stream has nothing more to prune.
        if (rows.rows.length < budget) {
          await this.x().execute(
            sql`update ${table} set history_pruned_at = ${request.now.toISOString()}::timestamptz where id = ${streamId}`,
          );
        }
      }
      if (highest > 0) {
        await this.x().execute(
          sql`insert into change_log_pruned (id, position) values (1, ${highest})
            on conflict (id) do update set position = greatest(change_log_pruned.position, excluded.position)`,
        );
      }
      return { pruned, done: streams.rows.length === 0 };
    });
  }

  async pruneDeliveries(request: PruneRequest): Promise<PruneBatch> {
    // Oldest first by id (received order), skipping waiting ones; a delivery received after
    // `before` ends the batch with it (the ones behind it are newer still).
    const result = await this.x().execute<{ id: string }>(
      sql`delete from webhook_deliveries where id in (select id from webhook_deliveries
        where processed_at is not null order by id limit ${request.limit})
        and received_at < ${request.before.toISOString()}::timestamptz returning id`,
    );
    const deleted = result.rows.length;
    return { pruned: deleted, done: deleted < request.limit };
  }

  async watermark(): Promise<number> {
    const result = await this.x().execute<{ position: string }>(
      sql`select position from change_log_pruned where id = 1`,
    );
    return Number(result.rows[0]?.position ?? 0);
  }
}
