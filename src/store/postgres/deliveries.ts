import { and, asc, count, eq, gt, inArray, isNull, sql } from 'drizzle-orm';
import type { ProviderId } from '../../domain/status.js';
import type { DeliveryRecord, NewDelivery } from '../types.js';
import { preparedFor } from './prepared.js';
import { webhookDeliveries as d } from './tables.js';
import type { Executor } from './transactions.js';

const RECORD = {
  id: d.id,
  provider: d.provider,
  deliveryId: d.deliveryId,
  eventType: d.eventType,
  payload: d.payload,
  receivedAt: d.receivedAt,
  processedAt: d.processedAt,
};

const record = preparedFor((x) =>
  x
    .insert(d)
    .values({
      provider: sql.placeholder('provider'),
      deliveryId: sql.placeholder('deliveryId'),
      contentKey: sql.placeholder('contentKey'),
      eventType: sql.placeholder('eventType'),
      // Recorded with no body: one left waiting gets its body through `markPending`.
      payload: '',
      // Raw placeholders (ISO strings, or null): drizzle would map a null with the timestamp's encoder.
      receivedAt: sql`${sql.placeholder('receivedAt')}`,
      processedAt: sql`${sql.placeholder('processedAt')}`,
    })
    // Either unique index (delivery id, signed content) makes it a duplicate. A concurrent
    // insert of the same key waits for the other transaction, then does nothing if it committed.
    .onConflictDoNothing()
    .returning({ id: d.id })
    .prepare('delivery_record'),
);

/** webhook_deliveries: unique per provider and delivery id, and per provider and signed content. */
export class PgDeliveries {
  constructor(private readonly x: () => Executor) {}

  async record(delivery: NewDelivery): Promise<{ inserted: boolean; id: number }> {
    const rows = await record(this.x()).execute({
      provider: delivery.provider,
      deliveryId: delivery.deliveryId,
      contentKey: delivery.contentKey,
      eventType: delivery.eventType,
      receivedAt: delivery.receivedAt.toISOString(),
      processedAt: delivery.processedAt?.toISOString() ?? null,
    });
    const id = rows[0]?.id;
    return id === undefined ? { inserted: false, id: 0 } : { inserted: true, id };
  }

  async markProcessed(id: number, at: Date): Promise<void> {
    // Applied: the body goes (history keeps the redacted payload), the ids stay for de-duplication.
    await this.x().update(d).set({ processedAt: at, payload: '', correlationKey: null }).where(eq(d.id, id));
  }

  async markPending(id: number, payload: string, correlationKey: string | null): Promise<void> {
    await this.x().update(d).set({ processedAt: null, payload, correlationKey }).where(eq(d.id, id));
  }

  pendingFor(
    provider: ProviderId,
    keys: readonly string[],
    receivedAfter: Date,
    limit: number,
  ): Promise<DeliveryRecord[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.x()
      .select(RECORD)
      .from(d)
      .where(
        and(
          isNull(d.processedAt),
          eq(d.provider, provider),
          inArray(d.correlationKey, [...keys]),
          gt(d.receivedAt, receivedAfter),
        ),
      )
      .orderBy(asc(d.id))
      .limit(limit);
  }

  async expirePending(provider: ProviderId, receivedBefore: Date, keep: number, at: Date): Promise<number> {
    // Marked done with an empty body: out of the pending index, the ids kept for de-duplication.
    const kept = this.x()
      .select({ id: d.id })
      .from(d)
      .where(and(eq(d.provider, provider), isNull(d.processedAt)))
      .orderBy(sql`${d.id} desc`)
      .limit(keep);
    const expired = await this.x()
      .update(d)
      .set({ processedAt: at, payload: '', correlationKey: null })
      .where(
        and(
          eq(d.provider, provider),
          isNull(d.processedAt),
          sql`(${d.receivedAt} < ${receivedBefore.toISOString()}::timestamptz or ${d.id} not in ${kept})`,
        ),
      );
    return expired.rowCount ?? 0;
  }

  pending(provider: ProviderId | null, receivedAfter: Date, limit: number): Promise<DeliveryRecord[]> {
    return this.x()
      .select(RECORD)
      .from(d)
      .where(
        and(isNull(d.processedAt), gt(d.receivedAt, receivedAfter), provider ? eq(d.provider, provider) : undefined),
      )
      .orderBy(asc(d.id))
      .limit(limit);
  }

  async pendingCounts(receivedAfter: Date): Promise<Map<ProviderId, number>> {
    const rows = await this.x()
      .select({ provider: d.provider, n: count() })
      .from(d)
      .where(and(isNull(d.processedAt), gt(d.receivedAt, receivedAfter)))
      .groupBy(d.provider);
    return new Map(rows.map((row) => [row.provider as ProviderId, row.n]));
  }

  async count(provider: ProviderId): Promise<number> {
    const rows = await this.x().select({ n: count() }).from(d).where(eq(d.provider, provider));
    return rows[0]?.n ?? 0;
  }
}
