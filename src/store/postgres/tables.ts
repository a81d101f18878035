import {
  bigint,
  boolean,
  doublePrecision,
  index,
  integer,
  type PgColumn,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { buildColumns, buildIndexes, type ColumnBuilders, type Columns, TABLES, type TableSpec } from '../schema.js';

/**
 * The PostgreSQL tables (drizzle schema, `drizzle.postgres.config.ts`), built from the description
 * both engines share (../schema.ts), so one row mapper serves both. PostgreSQL's own column
 * types: times as `timestamptz` read as `Date` (as SQLite's epoch-millisecond columns are),
 * booleans as `boolean`, positions as `bigint` read as numbers, row ids from an identity.
 */

const time = (name: string) => timestamp(name, { mode: 'date', withTimezone: true });
const position = (name: string) => bigint(name, { mode: 'number' });

/** Each kind of column as PostgreSQL stores it. */
const KINDS = {
  id: (name: string) => text(name).primaryKey(),
  text: (name: string) => text(name),
  int: (name: string) => integer(name),
  real: (name: string) => doublePrecision(name),
  bool: (name: string) => boolean(name),
  time,
  position,
  'position!0': (name: string) => position(name).notNull().default(0),
  // A change-log position is taken under an advisory lock just before the insert, so positions
  // become visible in commit order (postgres/history.ts); a rolled back insert leaves a gap.
  serial: (name: string) => position(name).primaryKey().generatedAlwaysAsIdentity(),
  one: (name: string) => integer(name).primaryKey().default(1),
  recording: (name: string) =>
    text(name)
      .notNull()
      .references((): PgColumn => recordings.id, { onDelete: 'cascade' }),
} satisfies ColumnBuilders;

/** The table `spec` describes, with PostgreSQL's columns and indexes. */
function pgTableOf<N extends string, C extends Columns>(spec: TableSpec<N, C>) {
  const indexes = buildIndexes(spec.indexes, ({ name, unique }) => (unique ? uniqueIndex : index)(name));
  return pgTable(spec.name, buildColumns(KINDS, spec.columns), indexes);
}

export const livestreams = pgTableOf(TABLES.livestreams);
export const recordings = pgTableOf(TABLES.recordings);
export const recordingAssets = pgTableOf(TABLES.recordingAssets);
export const statusEvents = pgTableOf(TABLES.statusEvents);
export const webhookDeliveries = pgTableOf(TABLES.webhookDeliveries);
export const roomSessions = pgTableOf(TABLES.roomSessions);
export const roomPeers = pgTableOf(TABLES.roomPeers);
export const roomAutomations = pgTableOf(TABLES.roomAutomations);
export const changeLogPruned = pgTableOf(TABLES.changeLogPruned);
export const callbackSubscriptions = pgTableOf(TABLES.callbackSubscriptions);
