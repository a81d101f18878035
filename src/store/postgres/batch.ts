import DataLoader from 'dataloader';
import { getTableColumns, getTableName } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import type { StreamKind } from '../../domain/status.js';
import type { RecordOf } from '../../domain/types.js';
import type { NewDelivery } from '../types.js';
import { RECORD_FIELDS, type StreamTable, TABLES } from './records.js';
import { statusEvents } from './tables.js';

/** Most members one batched statement serves: a group's most (group.ts MAX_GROUP). */
const MAX_BATCH = 64;

/** A member's delivery and the vendor id whose newest stream it reads (DeliveryStore.recordFinding). */
export interface FindingItem {
  delivery: NewDelivery;
  provider: string;
  externalId: string;
}

/** What one member's read found: its delivery's id (null: a duplicate) and its stream, locked. */
export interface Finding<K extends StreamKind> {
  delivery: number | null;
  stream: RecordOf<K> | undefined;
  /** The stream's row is held by another transaction: FOR UPDATE NOWAIT would have failed. */
  held: boolean;
}

/** A history row's fields (NewStatusEvent's, the snapshot as its text), as the batched change names them. */
const EVENT_FIELDS = [
  'streamKind',
  'streamId',
  'status',
  'vendorStatus',
  'source',
  'version',
  'applied',
  'eventId',
  'payload',
  'snapshot',
  'at',
] as const;

export type EventRow = Record<(typeof EVENT_FIELDS)[number], unknown>;

interface ChangeItem {
  streamId: string;
  /** The JSON row: the history row's columns, and `set_<column>` for each stream value written. */
  row: Record<string, unknown>;
}

/**
 * A group commit's members batched (dataloader): the deliveries and stream reads the members issue
 * in one turn of the event loop are one statement, and so are their changes of one kind and set of
 * fields. The rows travel as one JSON array (`jsonb_to_recordset`), each member's answer matched
 * back by its place or its stream; each statement is prepared once per connection. A delivery was
 * two statements of its own (its read, its change), each paying node-postgres's and the backend's
 * work per statement (bench/README.md, "PostgreSQL intake, 2026-12-06 session (batched members)").
 *
 * Failures stay the member's own where the group rule needs it: a stream row held by another
 * transaction is locked `FOR UPDATE SKIP LOCKED` and told apart (its newest row found, not locked),
 * so that member fails alone, as NOWAIT failed it, without failing the statement for the others;
 * a vendor event id seen before is inserted `on conflict do nothing`, so that member's change
 * answers no position and fails alone. Any other error fails every member the statement served
 * (the group then fails, its first member runs alone and the others again in a next group).
 */
export class GroupBatch {
  private readonly findings = new Map<StreamKind, DataLoader<FindingItem, Finding<StreamKind>>>();
  private readonly changes = new Map<string, DataLoader<ChangeItem, number>>();
  /** Batches scheduled and not yet sent (`pending`). */
  private scheduled = 0;
  private readonly options = {
    cache: false,
    maxBatchSize: MAX_BATCH,
    // Every member whose statement is issued in this turn of the event loop (answers read together,
    // requests parsed together), not only those of one microtask queue.
    batchScheduleFn: (callback: () => void) => {
      this.scheduled++;
      setImmediate(() => {
        this.scheduled--;
        callback();
      });
    },
  };

  constructor(
    /** The group's connection (pipelined). */
    private readonly client: pg.PoolClient,
    /** Told every statement (the store's statement listeners). */
    private readonly log: (sql: string) => void,
  ) {}

  find<K extends StreamKind>(kind: K, item: FindingItem): Promise<Finding<K>> {
    let loader = this.findings.get(kind);
    if (!loader) {
      const statement = FIND[kind];
      loader = new DataLoader(
        async (items) => findings(await this.run(statement, items.map(findingRow))),
        this.options,
      );
      this.findings.set(kind, loader);
    }
    return loader.load(item) as Promise<Finding<K>>;
  }

  /** One member's change: answers the position of its history row. */
  change(
    kind: StreamKind,
    fields: readonly string[],
    event: EventRow,
    values: Record<string, unknown>,
  ): Promise<number> {
    const statement = changeStatement(kind, fields);
    let loader = this.changes.get(statement.name);
    if (!loader) {
      loader = new DataLoader((items) => this.changeAll(kind, statement, items), this.options);
      this.changes.set(statement.name, loader);
    }
    const row: Record<string, unknown> = {};
    for (const [field, key] of statement.events) row[key] = event[field as keyof EventRow];
    for (const [field, key] of statement.sets) row[key] = values[field];
    return loader.load({ streamId: String(event.streamId), row });
  }

  /** True while a batch is scheduled and not yet sent (pipeline.ts `issueSoon`). */
  pending(): boolean {
    return this.scheduled > 0;
  }

  /** Members changing one stream are never in one batch (PgTransactions.hold); should they be, one statement each. */
  private async changeAll(kind: StreamKind, statement: ChangeStatement, items: readonly ChangeItem[]) {
    const answers: (number | Error)[] = [];
    for (let rest = [...items.keys()]; rest.length > 0; ) {
      const streams = new Set<string>();
      const round: number[] = [];
      const later: number[] = [];
      for (const i of rest) {
        const { streamId } = items[i] as ChangeItem;
        (streams.has(streamId) ? later : round).push(i);
        streams.add(streamId);
      }
      const rows = await this.run(
        statement,
        round.map((i) => (items[i] as ChangeItem).row),
      );
      const positions = new Map(rows.map((row) => [row.id as string, Number(row.position)]));
      for (const i of round) {
        const { streamId } = items[i] as ChangeItem;
        // No row changed: a vendor event id seen before (no history row), or no such stream.
        answers[i] = positions.get(streamId) ?? new Error(`no ${kind} ${streamId} changed`);
      }
      rest = later;
    }
    return answers;
  }

  private async run(statement: Statement, rows: readonly object[]): Promise<Record<string, unknown>[]> {
    this.log(statement.text);
    const result = await this.client.query({
      name: statement.name,
      text: statement.text,
      values: [JSON.stringify(rows)],
    });
    return result.rows as Record<string, unknown>[];
  }
}

interface Statement {
  name: string;
  text: string;
}

const quoted = (c: PgColumn) => `"${c.name}"`;

function findStatement(kind: StreamKind): Statement {
  const table = getTableName(TABLES[kind]);
  const fields = Object.entries(RECORD_FIELDS[kind])
    .map(([field, c]) => `s.${quoted(c)} as "${field}"`)
    .join(', ');
  return {
    name: `${kind}_find_batch`,
    text: `with k as (
        select * from rows from (jsonb_to_recordset($1::jsonb) as (provider text, delivery_id text,
          content_key text, event_type text, received_at timestamptz, processed_at timestamptz,
          stream_provider text, external_id text)) with ordinality as k
      ), ins as (
        insert into webhook_deliveries (provider, delivery_id, content_key, event_type, payload, received_at, processed_at)
        select provider, delivery_id, content_key, event_type, '', received_at, processed_at from k order by ordinality
        on conflict do nothing returning id, provider, delivery_id
      )
      select ins.id as delivery, c.id as candidate, ${fields}
      from k
      left join ins on ins.provider = k.provider and ins.delivery_id = k.delivery_id
      left join lateral (select id from ${table} where provider = k.stream_provider and external_id = k.external_id
        order by created_at desc, id desc limit 1) c on true
      left join lateral (select * from ${table} where id = c.id for update skip locked) s on true
      order by k.ordinality`,
  };
}

const FIND: Record<StreamKind, Statement> = {
  livestream: findStatement('livestream'),
  recording: findStatement('recording'),
};

function findingRow({ delivery, provider, externalId }: FindingItem): object {
  return {
    provider: delivery.provider,
    delivery_id: delivery.deliveryId,
    content_key: delivery.contentKey,
    event_type: delivery.eventType,
    received_at: delivery.receivedAt,
    processed_at: delivery.processedAt ?? null,
    stream_provider: provider,
    external_id: externalId,
  };
}

function findings(rows: readonly Record<string, unknown>[]): Finding<StreamKind>[] {
  // Two members with one delivery id: the first inserted it (rows go in in order), the later is a duplicate.
  const claimed = new Set<unknown>();
  return rows.map(({ delivery, candidate, ...found }) => {
    const mine = delivery != null && !claimed.has(delivery);
    if (mine) claimed.add(delivery);
    const stream =
      found.id == null
        ? undefined
        : ({ ...found, changePosition: Number(found.changePosition) } as RecordOf<StreamKind>);
    return { delivery: mine ? Number(delivery) : null, stream, held: candidate != null && found.id == null };
  });
}

interface ChangeStatement extends Statement {
  /** Each history field and each stream field written, with its key in the JSON row. */
  events: [string, string][];
  sets: [string, string][];
}

const CHANGES = new Map<string, ChangeStatement>();
function changeStatement(kind: StreamKind, fields: readonly string[]): ChangeStatement {
  const key = `${kind}:${fields.join(',')}`;
  let statement = CHANGES.get(key);
  if (!statement) {
    statement = buildChange(kind, fields, `${kind}_change_batch_${CHANGES.size}`);
    CHANGES.set(key, statement);
  }
  return statement;
}

/**
 * The members' changes of one kind and set of fields: their history rows inserted, each stream row
 * updated with its values and its history row's id as `change_position`, the ids answered by stream.
 */
function buildChange(kind: StreamKind, fields: readonly string[], name: string): ChangeStatement {
  const t: StreamTable = TABLES[kind];
  const streamColumns = getTableColumns(t) as Record<string, PgColumn>;
  const eventColumns = getTableColumns(statusEvents) as Record<string, PgColumn>;
  const events = EVENT_FIELDS.map((field) => [field, eventColumns[field] as PgColumn] as const);
  const sets = fields.map((field) => [field, streamColumns[field] as PgColumn] as const);
  const definitions = [
    ...events.map(([, c]) => `${quoted(c)} ${c.getSQLType()}`),
    ...sets.map(([, c]) => `"set_${c.name}" ${c.getSQLType()}`),
  ].join(', ');
  const names = events.map(([, c]) => quoted(c)).join(', ');
  const set = sets.map(([, c]) => `${quoted(c)} = v."set_${c.name}"`).join(', ');
  return {
    name,
    text: `with v as (select * from jsonb_to_recordset($1::jsonb) as v(${definitions})),
      ev as (insert into status_events (${names}) select ${names} from v on conflict do nothing returning id, stream_id),
      up as (update ${getTableName(t)} t set ${set}, change_position = ev.id
        from v join ev on ev.stream_id = v.stream_id where t.id = v.stream_id returning t.id, ev.id as position)
      select id, position from up`,
    events: events.map(([field, c]) => [field, c.name]),
    sets: sets.map(([field, c]) => [field, `set_${c.name}`]),
  };
}
