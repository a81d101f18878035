import { getTableColumns } from 'drizzle-orm';
import type { StreamKind } from '../../domain/status.js';
import { livestreams, recordings } from '../tables.js';

// Both stream tables share every column a generic query touches; livestreams only add more.
export type StreamTable = typeof recordings;
export const TABLES: Record<StreamKind, StreamTable> = {
  livestream: livestreams as unknown as StreamTable,
  recording: recordings,
};

export const TABLE_NAMES: Record<StreamKind, string> = { livestream: 'livestreams', recording: 'recordings' };

/** Field → SQLite column of each stream table, as tables.ts names them. */
export const STREAM_COLUMNS: Record<StreamKind, ReadonlyMap<string, string>> = {
  livestream: columnNames(livestreams),
  recording: columnNames(recordings),
};

function columnNames(table: typeof livestreams | typeof recordings): ReadonlyMap<string, string> {
  return new Map(Object.entries(getTableColumns(table)).map(([field, column]) => [field, column.name]));
}

/** A value as the store's own SQL binds it: times as epoch milliseconds (timestamp_ms), booleans as 0/1. */
export function toSqlite(value: unknown): unknown {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

// The row format both engines share (stream reads on SQLite, snapshots in the change log).
export { fromRow, fromRows, RECORD_COLUMNS, type StreamRow, toSnapshot } from '../rows.js';
