import { index, integer, real, type SQLiteColumn, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { buildColumns, buildIndexes, type ColumnBuilders, type Columns, TABLES, type TableSpec } from './schema.js';

/**
 * The SQLite tables (drizzle schema, `drizzle.config.ts`), built from the description both
 * engines share (schema.ts). SQLite's own column types: times as epoch milliseconds
 * (`timestamp_ms`), booleans as 0/1, every number an `integer` (64 bits) or `real`.
 */

const time = (name: string) => integer(name, { mode: 'timestamp_ms' });

/** Each kind of column as SQLite stores it. */
const KINDS = {
  id: (name: string) => text(name).primaryKey(),
  text: (name: string) => text(name),
  int: (name: string) => integer(name),
  real: (name: string) => real(name),
  bool: (name: string) => integer(name, { mode: 'boolean' }),
  time,
  position: (name: string) => integer(name),
  'position!0': (name: string) => integer(name).notNull().default(0),
  // The rowid itself: ascending, never reused (AUTOINCREMENT), in commit order (one writer).
  serial: (name: string) => integer(name).primaryKey({ autoIncrement: true }),
  one: (name: string) => integer(name).primaryKey().default(1),
  recording: (name: string) =>
    text(name)
      .notNull()
      .references((): SQLiteColumn => recordings.id, { onDelete: 'cascade' }),
} satisfies ColumnBuilders;

/** The table `spec` describes, with SQLite's columns and indexes. */
function sqliteTableOf<N extends string, C extends Columns>(spec: TableSpec<N, C>) {
  const indexes = buildIndexes(spec.indexes, ({ name, unique }) => (unique ? uniqueIndex : index)(name));
  return sqliteTable(spec.name, buildColumns(KINDS, spec.columns), indexes);
}

export const livestreams = sqliteTableOf(TABLES.livestreams);
export const recordings = sqliteTableOf(TABLES.recordings);
export const recordingAssets = sqliteTableOf(TABLES.recordingAssets);
export const statusEvents = sqliteTableOf(TABLES.statusEvents);
export const webhookDeliveries = sqliteTableOf(TABLES.webhookDeliveries);
export const roomSessions = sqliteTableOf(TABLES.roomSessions);
export const roomPeers = sqliteTableOf(TABLES.roomPeers);
export const roomAutomations = sqliteTableOf(TABLES.roomAutomations);
export const changeLogPruned = sqliteTableOf(TABLES.changeLogPruned);
export const callbackSubscriptions = sqliteTableOf(TABLES.callbackSubscriptions);
