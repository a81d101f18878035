import { and, asc, count, eq, gt, inArray, isNull, sql } from 'drizzle-orm';
import type { ProviderId, StreamKind } from '../../domain/status.js';
import type { RecordOf } from '../../domain/types.js';
import type { RecordedFinding, StreamLookup } from '../finding.js';
import type { DeliveryRecord, NewDelivery } from '../types.js';
import type { GroupBatch } from './batch.js';
import { rowHeld } from './errors.js';
import { deliveryInsert, RECORD_FINDING } from './intake.js';
import { preparedFor } from './prepared.js';
import { webhookDeliveries as d } from './tables.js';
import type { Executor, RowLock } from './transactions.js';

const RECORD = {
  id: d.id,
  provider: d.provider,
  deliveryId: d.deliveryId,
  eventType: d.eventType,
  payload: d.payload,
  receivedAt: d.receivedAt,
  processedAt: d.processedAt,
};

const markPending = preparedFor((x) =>
  x
    .update(d)
    .set({
      processedAt: null,
      payload: sql`${sql.placeholder('payload')}`,
      correlationKey: sql`${sql.placeholder('correlationKey')}`,
    })
    .where(eq(d.id, sql.placeholder('id')))
    .prepare('delivery_mark_pending'),
);

const record = preparedFor((x) => deliveryInsert(x).returning({ id: d.id }).prepare('delivery_record'));

/** webhook_deliveries: unique per provider and delivery id, and per provider and signed content. */
export class PgDeliveries {
  constructor(
    private readonly x: () => Executor,
    /** How the stream read with a delivery locks its row, and its holding in a group (streams.ts). */
    private readonly rowLock: () => RowLock,
    private readonly hold: (key: string) => Promise<boolean>,
    private readonly findByExternalId: <K extends StreamKind>(
      kind: K,
      provider: ProviderId,
      externalId: string,
    ) => Promise<RecordOf<K> | undefined>,
    /** The calling flow's group commit's batched statements (batch.ts), if it runs in one. */
    private readonly batch: () => GroupBatch | undefined,
  ) {}

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

  async recordFinding<K extends StreamKind>(delivery: NewDelivery, find: StreamLookup<K>): Promise<RecordedFinding<K>> {
    const batch = this.batch();
    const { id, stream: read } = batch ? await batched(batch, delivery, find) : await this.alone(delivery, find);
    if (id === null) return { inserted: false, id: 0, stream: undefined };
    let stream = read;
    // Another member of the group held the row: read again what that member left (streams.ts `findByExternalId`).
    if (stream && (await this.hold(`${find.kind}:${stream.id}`))) {
      stream = await this.findByExternalId(find.kind, find.provider, find.externalId);
    }
    return { inserted: true, id, stream };
  }

  /** The delivery's insert and its stream's read, one statement (intake.ts). */
  private async alone<K extends StreamKind>(delivery: NewDelivery, find: StreamLookup<K>) {
    const rows = await RECORD_FINDING[find.kind][this.rowLock()](this.x()).execute({
      provider: delivery.provider,
      deliveryId: delivery.deliveryId,
      contentKey: delivery.contentKey,
      eventType: delivery.eventType,
      receivedAt: delivery.receivedAt.toISOString(),
      processedAt: delivery.processedAt.toISOString(),
      streamProvider: find.provider,
      externalId: find.externalId,
    });
    // One row always: the stream's fields null when none has that vendor id.
    const { delivery: id, ...found } = (rows[0] ?? { delivery: null }) as {
      delivery: number | null;
      id?: string | null;
    };
    return { id, stream: found.id == null ? undefined : (found as unknown as RecordOf<K>) };
  }

  async markProcessed(id: number, at: Date): Promise<void> {
    // Applied: the body goes (history keeps the redacted payload), the ids stay for de-duplication.
    await this.x().update(d).set({ processedAt: at, payload: '', correlationKey: null }).where(eq(d.id, id));
  }

  async markPending(id: number, payload: string, correlationKey: string | null): Promise<void> {
    // Every delivery whose stream is not known yet: prepared (bench/README.md, "Pending deliveries
    // over the limit").
    await markPending(this.x()).execute({ id, payload, correlationKey });
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
    // As on SQLite (sqlite/deliveries.ts): the newest one given up (`cut`) found `keep` entries
    // down the pending index, what goes a range of that index below it, not every waiting row
    // sorted by id and tested against the newest `keep` (bench/README.md, "Pending deliveries over
    // the limit").
    const before = sql`${receivedBefore.toISOString()}::timestamptz`;
    const expired = await this.x().execute(
      sql`with cut as materialized (select received_at as at, id from webhook_deliveries
        where provider = ${provider} and processed_at is null
        order by received_at desc, id desc limit 1 offset ${keep})
      update webhook_deliveries set processed_at = ${at.toISOString()}::timestamptz, payload = '', correlation_key = null
      where provider = ${provider} and processed_at is null
        and received_at <= greatest(${before}, (select at from cut))
        and (received_at < ${before} or (received_at, id) <= (select at, id from cut))`,
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

/**
 * In a group commit: with the other members' issued in the same turn, one statement (batch.ts).
 * A stream row another transaction holds fails this member (and so its group): it runs again
 * alone, waiting for the row, as every other writer does (transactions.ts `RowLock`).
 */
async function batched<K extends StreamKind>(batch: GroupBatch, delivery: NewDelivery, find: StreamLookup<K>) {
  const found = await batch.find(find.kind, { delivery, provider: find.provider, externalId: find.externalId });
  if (found.held) throw rowHeld(`${find.kind} of vendor id ${find.externalId}`);
  return { id: found.delivery, stream: found.stream };
}
