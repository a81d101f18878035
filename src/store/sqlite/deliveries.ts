import { and, asc, count, eq, gt, isNull, sql } from 'drizzle-orm';
import type { ProviderId, StreamKind } from '../../domain/status.js';
import type { RecordOf } from '../../domain/types.js';
import type { RecordedFinding, StreamLookup } from '../finding.js';
import { webhookDeliveries } from '../tables.js';
import type { DeliveryRecord, NewDelivery } from '../types.js';
import type { Db, OpenedDatabase, Statement } from './database.js';

/** webhook_deliveries: unique per provider and delivery id; asked on every webhook. */
export class SqliteDeliveries {
  private insertStatement?: Statement<never>;
  private markStatement?: Statement<never>;
  private expireStatement?: Statement<never>;
  private pendingForStatement?: { all(params: Record<string, unknown>): DeliveryRecord[] };
  private readonly pendingStatements = new Map<string, { all(params: Record<string, unknown>): DeliveryRecord[] }>();

  constructor(
    private readonly opened: OpenedDatabase,
    private readonly db: Db,
    private readonly findByExternalId: <K extends StreamKind>(
      kind: K,
      provider: ProviderId,
      externalId: string,
    ) => RecordOf<K> | undefined,
  ) {}

  /** `record`, then the stream read: two statements in-process cost no round trip here. */
  recordFinding<K extends StreamKind>(delivery: NewDelivery, find: StreamLookup<K>): RecordedFinding<K> {
    const recorded = this.record(delivery);
    const stream = recorded.inserted ? this.findByExternalId(find.kind, find.provider, find.externalId) : undefined;
    return { ...recorded, stream };
  }

  record(delivery: NewDelivery): { inserted: boolean; id: number } {
    // `run` and the connection's last rowid rather than `returning id`: SQLite runs a RETURNING
    // statement to its end into a temporary table before answering (≈ 1.4 µs a delivery more).
    this.insertStatement ??= this.opened.prepare<never>(
      'insert into "webhook_deliveries" (provider, delivery_id, content_key, event_type, payload, received_at, processed_at) ' +
        // Recorded done, with no body: one left waiting gets its body through `markPending`.
        "values (?, ?, ?, ?, '', ?, ?) " +
        // Either unique index (delivery id, signed content) makes it a duplicate.
        'on conflict do nothing',
    );
    const result = this.insertStatement.run([
      delivery.provider,
      delivery.deliveryId,
      delivery.contentKey,
      delivery.eventType,
      delivery.receivedAt.getTime(),
      delivery.processedAt.getTime(),
    ]);
    // Nothing inserted (a duplicate): the last rowid is an older statement's.
    return result.changes === 0 ? { inserted: false, id: 0 } : { inserted: true, id: Number(result.lastInsertRowid) };
  }

  markProcessed(id: number, at: Date): void {
    // Applied: the body goes (history keeps the redacted payload), the ids stay for de-duplication.
    this.markStatement ??= this.opened.prepare<never>(
      'update "webhook_deliveries" set processed_at = @at, payload = \'\', correlation_key = null where id = @id',
    );
    this.markStatement.run({ id, at: at.getTime() });
  }

  markPending(id: number, payload: string, correlationKey: string | null): void {
    this.opened
      .prepare<never>(
        'update "webhook_deliveries" set processed_at = null, payload = @payload, correlation_key = @correlationKey ' +
          'where id = @id',
      )
      .run({ id, payload, correlationKey });
  }

  pendingFor(provider: ProviderId, keys: readonly string[], receivedAfter: Date, limit: number): DeliveryRecord[] {
    if (keys.length === 0) return [];
    this.pendingForStatement ??= this.db
      .select()
      .from(webhookDeliveries)
      .where(
        and(
          isNull(webhookDeliveries.processedAt),
          eq(webhookDeliveries.provider, sql.placeholder('provider')),
          sql`${webhookDeliveries.correlationKey} in (select value from json_each(${sql.placeholder('keys')}))`,
          // `+`: not a term for an index, so SQLite looks the keys up in the pending-key index
          // rather than walking every waiting delivery's entry of the received-at one (0.8 ms a
          // retry at 10,000 waiting, for each stream showing its vendor id: bench/README.md,
          // "Pending deliveries over the limit"); test/store-pending-plan.test.ts.
          sql`+${webhookDeliveries.receivedAt} > ${sql.placeholder('receivedAfter')}`,
        ),
      )
      .orderBy(asc(webhookDeliveries.id))
      .limit(sql.placeholder('limit'))
      .prepare();
    return this.pendingForStatement.all({
      provider,
      keys: JSON.stringify(keys),
      receivedAfter: receivedAfter.getTime(),
      limit,
    });
  }

  expirePending(provider: ProviderId, receivedBefore: Date, keep: number, at: Date): number {
    // Marked done with an empty body: out of the pending index, the ids kept for de-duplication.
    // The newest one given up (`cut`) is found `keep` entries down the pending index from its
    // newest end, and what goes is a range of that index below it (by id within the cut's
    // millisecond): the statement steps over about `keep` entries and the rows it gives up.
    // `id not in (the newest keep by id)` sorted every waiting row and tested each against that
    // list: 0.4 ms a call at 1,000 waiting, 65 ms at 100,000 (bench/README.md, "Pending
    // deliveries over the limit").
    this.expireStatement ??= this.opened.prepare<never>(
      'with cut as materialized (select received_at as at, id from "webhook_deliveries" ' +
        'where provider = @provider and processed_at is null ' +
        'order by received_at desc, id desc limit 1 offset @keep) ' +
        'update "webhook_deliveries" set processed_at = @at, payload = \'\', correlation_key = null ' +
        'where provider = @provider and processed_at is null ' +
        'and received_at <= max(@before - 1, coalesce((select at from cut), -1)) ' +
        'and (received_at < @before or received_at < (select at from cut) or id <= (select id from cut))',
    );
    const expired = this.expireStatement.run({ provider, at: at.getTime(), before: receivedBefore.getTime(), keep });
    return expired.changes;
  }

  pending(provider: ProviderId | null, receivedAfter: Date, limit: number): DeliveryRecord[] {
    // Asked after every change that gives a stream its vendor id: prepared once per shape.
    const key = provider ? 'provider' : 'any';
    let statement = this.pendingStatements.get(key);
    if (!statement) {
      statement = this.db
        .select()
        .from(webhookDeliveries)
        .where(
          and(
            isNull(webhookDeliveries.processedAt),
            // Raw placeholder: compared as epoch milliseconds (timestamp_ms).
            gt(webhookDeliveries.receivedAt, sql`${sql.placeholder('receivedAfter')}`),
            provider ? eq(webhookDeliveries.provider, sql.placeholder('provider')) : undefined,
          ),
        )
        .orderBy(asc(webhookDeliveries.id))
        .limit(sql.placeholder('limit'))
        .prepare();
      this.pendingStatements.set(key, statement);
    }
    return statement.all({ provider, receivedAfter: receivedAfter.getTime(), limit });
  }

  pendingCounts(receivedAfter: Date): Map<ProviderId, number> {
    const rows = this.db
      .select({ provider: webhookDeliveries.provider, n: count() })
      .from(webhookDeliveries)
      .where(and(isNull(webhookDeliveries.processedAt), gt(webhookDeliveries.receivedAt, receivedAfter)))
      .groupBy(webhookDeliveries.provider)
      .all();
    return new Map(rows.map((row) => [row.provider as ProviderId, row.n]));
  }

  count(provider: ProviderId): number {
    return (
      this.db.select({ n: count() }).from(webhookDeliveries).where(eq(webhookDeliveries.provider, provider)).get()?.n ??
      0
    );
  }
}
