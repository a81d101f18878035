import { and, desc, eq, getTableColumns, inArray, isNull, lt, or, type SQL, sql } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import { activeStatuses, type ProviderId, polledStatuses, type StreamKind } from '../../domain/status.js';
import type { RecordOf } from '../../domain/types.js';
import type { NewStream, PageRequest, StreamFilter, StreamWrite } from '../types.js';
import { preparedFor } from './prepared.js';
import { asRecords, RECORD_FIELDS, STREAM_COLUMNS, type StreamTable, TABLES } from './records.js';
import type { Executor, RowLock } from './transactions.js';

/**
 * The stream tables on PostgreSQL. `listActive` has no cache here: several replicas write the same
 * tables, and a cache would need a round trip to validate anyway (the SQLite store's stamp is a
 * local pragma); the query reads the status index, one round trip either way.
 *
 * A stream read by id, vendor id, room or key inside a transaction locks its row to the commit
 * (FOR UPDATE): the read-check-write of an apply is then serialised per stream across
 * connections and replicas, as SQLite's single writer serialises it, so two concurrent changes
 * never both build on the same version.
 */
export class PgStreams {
  constructor(
    private readonly x: () => Executor,
    /** How a stream read to be changed locks its row (transactions.ts). */
    private readonly rowLock: () => RowLock,
    /** In a group commit, holds the row from the group's other members (true: it waited). */
    private readonly hold: (key: string) => Promise<boolean>,
  ) {}

  private async select<K extends StreamKind>(
    kind: K,
    where: SQL | undefined,
    order: 'newest' | 'none' = 'none',
    limit?: number,
    lock = false,
  ): Promise<RecordOf<K>[]> {
    const t: StreamTable = TABLES[kind];
    let query = this.x().select(RECORD_FIELDS[kind]).from(t).where(where).$dynamic();
    if (order === 'newest') query = query.orderBy(desc(t.createdAt), desc(t.id));
    if (limit !== undefined) query = query.limit(limit);
    const mode = lock ? this.rowLock() : 'none';
    if (mode !== 'none') query = query.for('update', mode === 'nowait' ? { noWait: true } : {});
    return asRecords<K>(await query);
  }

  private async one<K extends StreamKind>(kind: K, where: SQL | undefined): Promise<RecordOf<K> | undefined> {
    for (;;) {
      const row = (await this.select(kind, where, 'newest', 1, true))[0];
      // Another member of the group held it: read again what that member left (as FOR UPDATE does).
      if (!row || !(await this.hold(`${kind}:${row.id}`))) return row;
    }
  }

  /** One stream through a prepared read, locked as this transaction locks (`one`'s rule). */
  private async readOne<K extends StreamKind>(
    kind: K,
    reads: PreparedReads,
    params: Record<string, unknown>,
  ): Promise<RecordOf<K> | undefined> {
    const statement = reads[this.rowLock()];
    for (;;) {
      const row = asRecords<K>(await statement(this.x()).execute(params))[0];
      if (!row || !(await this.hold(`${kind}:${row.id}`))) return row;
    }
  }

  async get<K extends StreamKind>(kind: K, id: string): Promise<RecordOf<K> | undefined> {
    // Every apply reads its stream by id, and so does each subscription by id as it opens: a
    // prepared statement (prepared.ts), as the webhooks' correlation read.
    return this.readOne(kind, BY_ID[kind], { id });
  }

  getMany<K extends StreamKind>(kind: K, ids: readonly string[]): Promise<RecordOf<K>[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.select(kind, inArray(TABLES[kind].id, [...ids]));
  }

  async findByExternalId<K extends StreamKind>(
    kind: K,
    provider: ProviderId,
    externalId: string,
  ): Promise<RecordOf<K> | undefined> {
    // Webhook correlation, the hot path: a prepared statement (prepared.ts).
    return this.readOne(kind, BY_EXTERNAL_ID[kind], { provider, externalId });
  }

  findActive<K extends StreamKind>(kind: K, provider: ProviderId, roomId: string): Promise<RecordOf<K> | undefined> {
    const t: StreamTable = TABLES[kind];
    return this.one(kind, and(eq(t.provider, provider), eq(t.roomId, roomId), ...active(t, kind)));
  }

  findByIdempotencyKey<K extends StreamKind>(kind: K, key: string): Promise<RecordOf<K> | undefined> {
    return this.one(kind, eq(TABLES[kind].idempotencyKey, key));
  }

  async idempotencyInput(kind: StreamKind, id: string): Promise<string | null> {
    const t: StreamTable = TABLES[kind];
    const rows = await this.x().select({ input: t.idempotencyInput }).from(t).where(eq(t.id, id));
    return rows[0]?.input ?? null;
  }

  async findOpenInRoom<K extends StreamKind>(
    kind: K,
    provider: ProviderId,
    roomId: string,
  ): Promise<RecordOf<K> | undefined> {
    return this.readOne(kind, OPEN_IN_ROOM[kind], { provider, roomId });
  }

  listActive<K extends StreamKind>(kind: K, filter: StreamFilter): Promise<readonly RecordOf<K>[]> {
    const t: StreamTable = TABLES[kind];
    return this.select(kind, and(...active(t, kind), ...filterConditions(t, filter)), 'newest');
  }

  page<K extends StreamKind>(kind: K, request: PageRequest): Promise<RecordOf<K>[]> {
    const t: StreamTable = TABLES[kind];
    const conditions = filterConditions(t, request);
    if (request.after) {
      const at = new Date(request.after.createdAt);
      conditions.push(or(lt(t.createdAt, at), and(eq(t.createdAt, at), lt(t.id, request.after.id))) as SQL);
    }
    return this.select(kind, and(...conditions), 'newest', request.first + 1);
  }

  listByRooms<K extends StreamKind>(kind: K, roomIds: readonly string[]): Promise<RecordOf<K>[]> {
    if (roomIds.length === 0) return Promise.resolve([]);
    return this.select(kind, inArray(TABLES[kind].roomId, [...roomIds]), 'newest');
  }

  async insert(kind: StreamKind, row: NewStream): Promise<void> {
    await this.x().insert(TABLES[kind]).values(row);
  }

  async update(kind: StreamKind, id: string, patch: StreamWrite): Promise<void> {
    const { fields, values } = writeOf(kind, patch);
    if (fields.length === 0) return;
    await updateOf(kind, fields)(this.x()).execute({ ...values, id });
  }
}

/**
 * The fields `patch` writes (undefined ones and those `kind` has not left out), sorted, with
 * their values as the driver takes them.
 */
export function writeOf(kind: StreamKind, patch: StreamWrite): { fields: string[]; values: Record<string, unknown> } {
  const columns = STREAM_COLUMNS[kind];
  const fields: string[] = [];
  for (const [field, value] of Object.entries(patch)) {
    if (value !== undefined && columns.has(field)) fields.push(field);
  }
  fields.sort();
  const values: Record<string, unknown> = {};
  for (const field of fields) values[field] = toDriver(COLUMNS[kind][field], patch[field as keyof StreamWrite]);
  return { fields, values };
}

/** A stream read prepared for each way a transaction locks what it reads (`RowLock`). */
type PreparedReads = Record<RowLock, (x: Executor) => { execute(params: Record<string, unknown>): Promise<object[]> }>;

/**
 * The newest stream matching `where` (its placeholders bound at each call), prepared (prepared.ts)
 * three ways: locked to the commit, waiting (inside a transaction) or NOWAIT (in a group commit), or
 * only read.
 */
function newest(kind: StreamKind, name: string, where: (t: StreamTable) => SQL | undefined) {
  const t: StreamTable = TABLES[kind];
  const query = (x: Executor) =>
    x.select(RECORD_FIELDS[kind]).from(t).where(where(t)).orderBy(desc(t.createdAt), desc(t.id)).limit(1);
  return {
    wait: preparedFor((x) => query(x).for('update').prepare(`${kind}_${name}_locked`)),
    nowait: preparedFor((x) => query(x).for('update', { noWait: true }).prepare(`${kind}_${name}_nowait`)),
    none: preparedFor((x) => query(x).prepare(`${kind}_${name}`)),
  };
}

/** The newest stream of a vendor id. */
function byExternalId(kind: StreamKind) {
  return newest(kind, 'by_external_id', (t) =>
    and(eq(t.provider, sql.placeholder('provider')), eq(t.externalId, sql.placeholder('externalId'))),
  );
}

/**
 * The newest open stream of a room: the intake's correlation by room, asked for every webhook
 * whose vendor id names no stream (bench/README.md, "Pending deliveries over the limit").
 */
function openInRoom(kind: StreamKind) {
  return newest(kind, 'open_in_room', (t) =>
    and(
      eq(t.provider, sql.placeholder('provider')),
      eq(t.roomId, sql.placeholder('roomId')),
      inArray(t.status, polledStatuses(kind)),
    ),
  );
}

const OPEN_IN_ROOM = { livestream: openInRoom('livestream'), recording: openInRoom('recording') };

const BY_EXTERNAL_ID = { livestream: byExternalId('livestream'), recording: byExternalId('recording') };

/** A stream by id, locked to the commit (inside a transaction) or only read. */
function byId(kind: StreamKind) {
  const t: StreamTable = TABLES[kind];
  const query = (x: Executor) =>
    x
      .select(RECORD_FIELDS[kind])
      .from(t)
      .where(eq(t.id, sql.placeholder('id')));
  return {
    wait: preparedFor((x) => query(x).for('update').prepare(`${kind}_by_id_locked`)),
    nowait: preparedFor((x) => query(x).for('update', { noWait: true }).prepare(`${kind}_by_id_nowait`)),
    none: preparedFor((x) => query(x).prepare(`${kind}_by_id`)),
  };
}

const BY_ID = { livestream: byId('livestream'), recording: byId('recording') };

const COLUMNS: Record<StreamKind, Record<string, PgColumn>> = {
  livestream: getTableColumns(TABLES.livestream),
  recording: getTableColumns(TABLES.recording),
};

/** What drizzle would send for `value` in `column` (null as null). */
function toDriver(column: PgColumn | undefined, value: unknown): unknown {
  return value === null || value === undefined || !column ? (value ?? null) : column.mapToDriverValue(value);
}

/**
 * A stream update writing `fields`, prepared (prepared.ts) once per set of fields: a change writes
 * one of a few sets (status and times, a vendor status, details), each its own statement.
 */
const UPDATES = new Map<string, ReturnType<typeof preparedUpdate>>();
function updateOf(kind: StreamKind, fields: readonly string[]) {
  const key = `${kind}:${fields.join(',')}`;
  let update = UPDATES.get(key);
  if (!update) {
    update = preparedUpdate(kind, fields, `${kind}_update_${UPDATES.size}`);
    UPDATES.set(key, update);
  }
  return update;
}

function preparedUpdate(kind: StreamKind, fields: readonly string[], name: string) {
  const t: StreamTable = TABLES[kind];
  // Raw placeholders, the values mapped by the caller (toDriver): drizzle maps a placeholder's
  // value with the column's encoder even when it is null, which a timestamp's cannot take.
  const set = Object.fromEntries(fields.map((field) => [field, sql`${sql.placeholder(field)}`]));
  return preparedFor((x) =>
    x
      .update(t)
      .set(set)
      .where(eq(t.id, sql.placeholder('id')))
      .prepare(name),
  );
}

/**
 * The active streams of `kind`: `stopped_at is null` names the same rows as the statuses (see
 * `ACTIVE_PREDICATE`, store/schema.ts) and lets the planner read the one-active index.
 */
function active(t: StreamTable, kind: StreamKind): SQL[] {
  return [isNull(t.stoppedAt), inArray(t.status, activeStatuses(kind))];
}

function filterConditions(t: StreamTable, filter: StreamFilter): SQL[] {
  const conditions: SQL[] = [];
  if (filter.provider) conditions.push(eq(t.provider, filter.provider));
  if (filter.roomId) conditions.push(eq(t.roomId, filter.roomId));
  if (filter.status) conditions.push(eq(t.status, filter.status));
  return conditions;
}
