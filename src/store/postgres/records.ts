import { getTableColumns } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { StreamKind } from '../../domain/status.js';
import type { RecordOf } from '../../domain/types.js';
import { livestreams, recordings } from './tables.js';

// Both stream tables share every column a generic query touches; livestreams only add more.
export type StreamTable = typeof recordings;
export const TABLES: Record<StreamKind, StreamTable> = {
  livestream: livestreams as unknown as StreamTable,
  recording: recordings,
};

/** Columns of a stream row that are the store's own (schedule, lease, idempotency input), not the record's. */
const NOT_IN_RECORD = new Set(['idempotencyInput', 'nextPollAt', 'pollIntervalMs', 'pollLeaseOwner', 'pollLeaseUntil']);

function recordFields(table: typeof livestreams | typeof recordings): Record<string, PgColumn> {
  return Object.fromEntries(Object.entries(getTableColumns(table)).filter(([field]) => !NOT_IN_RECORD.has(field)));
}

/**
 * The columns a record holds, named as its fields: drizzle answers each row as the record itself
 * (times as `Date`), so no mapping is needed on PostgreSQL.
 */
export const RECORD_FIELDS: Record<StreamKind, Record<string, PgColumn>> = {
  livestream: recordFields(livestreams),
  recording: recordFields(recordings),
};

/** Field names of each stream table (what `update` may write). */
export const STREAM_COLUMNS: Record<StreamKind, ReadonlySet<string>> = {
  livestream: new Set(Object.keys(getTableColumns(livestreams))),
  recording: new Set(Object.keys(getTableColumns(recordings))),
};

/** Rows selected with RECORD_FIELDS, as records. */
export function asRecords<K extends StreamKind>(rows: readonly object[]): RecordOf<K>[] {
  return rows as RecordOf<K>[];
}
