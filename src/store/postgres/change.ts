import { eq, sql } from 'drizzle-orm';
import type { StreamKind } from '../../domain/status.js';
import { preparedFor } from './prepared.js';
import { type StreamTable, TABLES } from './records.js';
import { statusEvents } from './tables.js';
import type { Executor } from './transactions.js';

/** A history row's values, as placeholders named for NewStatusEvent's fields. */
export const EVENT = {
  streamKind: sql.placeholder('streamKind'),
  streamId: sql.placeholder('streamId'),
  status: sql.placeholder('status'),
  vendorStatus: sql.placeholder('vendorStatus'),
  source: sql.placeholder('source'),
  version: sql.placeholder('version'),
  applied: sql.placeholder('applied'),
  eventId: sql.placeholder('eventId'),
  payload: sql.placeholder('payload'),
  snapshot: sql.placeholder('snapshot'),
  at: sql.placeholder('at'),
};

/** A stream field's placeholder in a change (apart from the event's fields of the same name). */
export const setName = (field: string) => `set_${field}`;

/**
 * A change of an existing stream in one statement (PgHistory.appendChange): the history row
 * inserted in a CTE, the stream row updated with `fields` and the new row's id as its
 * `change_position`, the id answered. Prepared (prepared.ts) once per kind and set of fields, as
 * stream updates are; a delivery's change was two statements (two round trips on the group's
 * connection, two executions on each side: bench/README.md, "PostgreSQL webhook intake").
 */
const CHANGES = new Map<string, ReturnType<typeof preparedChange>>();
export function changeOf(kind: StreamKind, fields: readonly string[]) {
  const key = `${kind}:${fields.join(',')}`;
  let change = CHANGES.get(key);
  if (!change) {
    change = preparedChange(kind, fields, `${kind}_change_${CHANGES.size}`);
    CHANGES.set(key, change);
  }
  return change;
}

function preparedChange(kind: StreamKind, fields: readonly string[], name: string) {
  const t: StreamTable = TABLES[kind];
  return preparedFor((x: Executor) => {
    const event = x.$with('event').as(x.insert(statusEvents).values(EVENT).returning({ id: statusEvents.id }));
    const position = sql`(select id from ${event})`;
    // Raw placeholders, the values mapped by the caller (streams.ts `writeOf`).
    const set: Record<string, unknown> = Object.fromEntries(
      fields.map((field) => [field, sql`${sql.placeholder(setName(field))}`]),
    );
    set.changePosition = position;
    return x
      .with(event)
      .update(t)
      .set(set)
      .where(eq(t.id, sql.placeholder('id')))
      .returning({ position: sql<string>`${position}` })
      .prepare(name);
  });
}
