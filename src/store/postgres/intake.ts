import { and, desc, eq, sql } from 'drizzle-orm';
import type { StreamKind } from '../../domain/status.js';
import { preparedFor } from './prepared.js';
import { RECORD_FIELDS, type StreamTable, TABLES } from './records.js';
import { webhookDeliveries as d } from './tables.js';
import type { Executor, RowLock } from './transactions.js';

/**
 * A delivery's insert, recorded done and with no body (one left waiting gets its body through
 * `markPending`); either unique index (delivery id, signed content) makes it a duplicate, and a
 * concurrent insert of the same key waits for the other transaction, then does nothing if it
 * committed. `PgDeliveries.record` runs it alone, `recordFinding` below with the stream's read.
 */
export function deliveryInsert(x: Executor) {
  return x
    .insert(d)
    .values({
      provider: sql.placeholder('provider'),
      deliveryId: sql.placeholder('deliveryId'),
      contentKey: sql.placeholder('contentKey'),
      eventType: sql.placeholder('eventType'),
      payload: '',
      // Raw placeholders (ISO strings, or null): drizzle would map a null with the timestamp's encoder.
      receivedAt: sql`${sql.placeholder('receivedAt')}`,
      processedAt: sql`${sql.placeholder('processedAt')}`,
    })
    .onConflictDoNothing();
}

/**
 * A webhook's delivery insert and its correlation read (the newest stream of the event's vendor
 * id, locked as `PgStreams.findByExternalId` locks it) in one statement: the delivery inserted in
 * a CTE, the stream read in a lateral join that answers one row whether or not a stream matched.
 * One round trip on the group commit's connection instead of two, one execution on each side
 * (bench/README.md, "PostgreSQL intake, 2026-12-05 evening session"). Prepared (prepared.ts) per
 * kind and row lock.
 */
function recordFinding(kind: StreamKind, lock: RowLock) {
  const t: StreamTable = TABLES[kind];
  const fields = RECORD_FIELDS[kind];
  return preparedFor((x: Executor) => {
    const delivery = x.$with('delivery').as(deliveryInsert(x).returning({ id: d.id }));
    let read = x
      .select(fields)
      .from(t)
      .where(and(eq(t.provider, sql.placeholder('streamProvider')), eq(t.externalId, sql.placeholder('externalId'))))
      .orderBy(desc(t.createdAt), desc(t.id))
      .limit(1)
      .$dynamic();
    if (lock !== 'none') read = read.for('update', lock === 'nowait' ? { noWait: true } : {});
    const found = read.as('found');
    const selection: Record<string, unknown> = {
      delivery: sql<number | null>`(select id from ${delivery})`.mapWith(Number).as('delivery'),
    };
    for (const field of Object.keys(fields)) selection[field] = (found as unknown as Record<string, unknown>)[field];
    return x
      .with(delivery)
      .select(selection as Record<string, ReturnType<typeof sql>>)
      .from(sql`(select 1) as one`)
      .leftJoinLateral(found, sql`true`)
      .prepare(`${kind}_record_finding_${lock}`);
  });
}

export const RECORD_FINDING: Record<StreamKind, Record<RowLock, ReturnType<typeof recordFinding>>> = {
  livestream: {
    none: recordFinding('livestream', 'none'),
    wait: recordFinding('livestream', 'wait'),
    nowait: recordFinding('livestream', 'nowait'),
  },
  recording: {
    none: recordFinding('recording', 'none'),
    wait: recordFinding('recording', 'wait'),
    nowait: recordFinding('recording', 'nowait'),
  },
};
