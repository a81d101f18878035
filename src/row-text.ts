// A record that still is the JSON text it was read as (the change log's snapshots: a JSON array,
// written by `JSON.stringify`, store/rows.ts `toSnapshot`), and the declaration of a GraphQL field
// whose value is one element of that text. Together they let a subscription's plan write a
// replayed change's frame from the snapshot's text (fanout/event-plan.ts) without parsing it,
// building the record or executing its fields: ≈ a quarter of a replay's CPU (bench/README.md,
// "Catch-up: the splice path", 2026-12-05, late session). The store makes such records
// (store/logged-record.ts), the schema declares its fields (schema/stream-api.ts), the plan
// reads both; none of them imports another.

/**
 * The property under which such a record answers its row's text (a record read otherwise
 * answers `undefined`). Not one of its keys: spreads, JSON and key listings never see it.
 */
export const ROW_TEXT: unique symbol = Symbol('row text');

/**
 * The property under which a record the change log read answers `true` (store/logged-record.ts).
 * Such a record is made for the one resumed subscription whose read it was: no other subscriber
 * is ever handed it, so its result is not kept for sharing (fanout/subscription-execution.ts).
 */
export const ONE_READER: unique symbol = Symbol('one reader');

/** Whether `source` is a record read from the log for one subscription (see ONE_READER). */
export function isOneReaders(source: object): boolean {
  return (source as { [ONE_READER]?: boolean })[ONE_READER] === true;
}

/** The JSON text of `source`'s row, when it is a record read as one (see ROW_TEXT). */
export function rowTextOf(source: unknown): string | undefined {
  return typeof source === 'object' && source !== null ? (source as { [ROW_TEXT]?: string })[ROW_TEXT] : undefined;
}

/**
 * A field's extension (`extensions: { [ROW_COLUMN]: … }`): its resolver answers element `index`
 * of the row as it is (a string, a number or null) or, with `time`, as the `Date` of that many
 * epoch milliseconds. The schema makes the resolver and this declaration together.
 */
export const ROW_COLUMN = 'rowColumn';
export interface RowColumn {
  index: number;
  time?: boolean;
}
