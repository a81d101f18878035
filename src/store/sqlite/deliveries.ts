import { and, asc, count, eq, gt, isNull, sql } from 'drizzle-orm';
import type { ProviderId } from '../../domain/status.js';
import { webhookDeliveries } from '../tables.js';
import type { DeliveryRecord, NewDelivery } from '../types.js';
import type { Db, OpenedDatabase, Statement } from './database.js';

/** webhook_deliveries: unique per provider and delivery id; asked on every webhook. */
export class SqliteDeliveries {
  private insertStatement?: Statement<number>;
  private markStatement?: ReturnType<SqliteDeliveries['prepareMark']>;
  private readonly pendingStatements = new Map<string, { all(params: Record<string, unknown>): DeliveryRecord[] }>();

  constructor(
    private readonly opened: OpenedDatabase,
    private readonly db: Db,
  ) {}

  record(delivery: NewDelivery): { inserted: boolean; id: number } {
    this.insertStatement ??= this.opened.prepare<number>(
      'insert into "webhook_deliveries" (provider, delivery_id, event_type, payload, received_at, processed_at) ' +
        'values (@provider, @deliveryId, @eventType, @payload, @receivedAt, @processedAt) ' +
        'on conflict (provider, delivery_id) do nothing returning id',
      'first',
    );
    const id = this.insertStatement.get({
      provider: delivery.provider,
      deliveryId: delivery.deliveryId,
      eventType: delivery.eventType,
      payload: delivery.payload,
      receivedAt: delivery.receivedAt.getTime(),
      processedAt: delivery.processedAt?.getTime() ?? null,
    });
    return id === undefined ? { inserted: false, id: 0 } : { inserted: true, id };
  }

  private prepareMark() {
    return this.db
      .update(webhookDeliveries)
      .set({ processedAt: sql`${sql.placeholder('at')}` })
      .where(eq(webhookDeliveries.id, sql.placeholder('id')))
      .prepare();
  }

  markProcessed(id: number, at: Date): void {
    this.markStatement ??= this.prepareMark();
    // A placeholder inside raw SQL reaches the driver as it is: epoch milliseconds (timestamp_ms).
    this.markStatement.run({ id, at: at.getTime() });
  }

  markPending(id: number): void {
    this.markStatement ??= this.prepareMark();
    this.markStatement.run({ id, at: null });
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
