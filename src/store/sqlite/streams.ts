import type { Database, Statement as SqliteStatement } from 'better-sqlite3';
import { activeStatuses, type ProviderId, polledStatuses, type StreamKind } from '../../domain/status.js';
import type { RecordOf } from '../../domain/types.js';
import { ACTIVE_PREDICATE } from '../schema.js';
import { livestreams, recordings } from '../tables.js';
import type { NewStream, PageRequest, StreamFilter, StreamWrite } from '../types.js';
import type { Db, OpenedDatabase, Params, Statement } from './database.js';
import { fromRow, fromRows, RECORD_COLUMNS, STREAM_COLUMNS, type StreamRow, TABLE_NAMES, toSqlite } from './rows.js';

/** `status in (…)` over constant statuses, as SQL literals. */
function statusIn(statuses: readonly string[]): string {
  return `status in (${statuses.map((status) => `'${status}'`).join(', ')})`;
}

/**
 * The stream tables. Every read is plain SQL prepared once per shape, its rows mapped by
 * `fromRow`: building and preparing SQL on each call costs more than running it.
 */
export class SqliteStreams {
  private readonly reads = new Map<string, Statement<StreamRow>>();
  private readonly updates = new Map<string, Statement<never>>();
  private readonly listActiveStatements = new Map<string, (params: Record<string, unknown>) => StreamRow[]>();
  /**
   * `listActive` answers as last read, while the database has not changed since (see
   * `changeStamp`): dashboards ask the same list far more often than any stream changes.
   */
  private readonly activeCache = new Map<string, { stamp: string; records: readonly unknown[] }>();
  private changeStampStatement?: SqliteStatement<[], string>;

  constructor(
    private readonly opened: OpenedDatabase,
    private readonly db: Db,
    private readonly sqlite: Database,
  ) {}

  /** Rows of `kind` matching `where` (SQL after the table name), prepared once per text. */
  private read(kind: StreamKind, where: string): Statement<StreamRow> {
    const key = `${kind}:${where}`;
    let statement = this.reads.get(key);
    if (!statement) {
      statement = this.opened.prepare<StreamRow>(
        `select ${RECORD_COLUMNS[kind]} from "${TABLE_NAMES[kind]}" ${where}`,
        'arrays',
      );
      this.reads.set(key, statement);
    }
    return statement;
  }

  private one<K extends StreamKind>(kind: K, where: string, params: Params): RecordOf<K> | undefined {
    const row = this.read(kind, where).get(params);
    return row ? fromRow(kind, row) : undefined;
  }

  get<K extends StreamKind>(kind: K, id: string): RecordOf<K> | undefined {
    return this.one(kind, 'where id = ?', [id]);
  }

  getMany<K extends StreamKind>(kind: K, ids: readonly string[]): RecordOf<K>[] {
    if (ids.length === 0) return [];
    const rows = this.read(kind, 'where id in (select value from json_each(@ids))').all({ ids: JSON.stringify(ids) });
    return fromRows(kind, rows);
  }

  findByExternalId<K extends StreamKind>(kind: K, provider: ProviderId, externalId: string): RecordOf<K> | undefined {
    // The newest of the streams with this vendor id (nearly always one), picked here: `order by
    // created_at desc limit 1` made SQLite sort through a temporary b-tree on every webhook
    // (the index holds provider and vendor id only), ≈ 1.5 µs a delivery (bench/README.md,
    // "SQLite intake, 2026-12-06, late session").
    const rows = this.read(kind, 'where provider = ? and external_id = ?').all([provider, externalId]);
    let newest = rows[0];
    for (let i = 1; i < rows.length; i++) {
      const row = rows[i] as StreamRow;
      // Element 12 is createdAt (StreamRow).
      if (newest === undefined || row[12] > newest[12]) newest = row;
    }
    return newest ? fromRow(kind, newest) : undefined;
  }

  findActive<K extends StreamKind>(kind: K, provider: ProviderId, roomId: string): RecordOf<K> | undefined {
    // `stopped_at is null` (the same rows as the statuses) lets SQLite read the one-active index.
    const where = `where provider = @provider and room_id = @roomId and ${ACTIVE_PREDICATE} and ${statusIn(activeStatuses(kind))}`;
    return this.one(kind, where, { provider, roomId });
  }

  findByIdempotencyKey<K extends StreamKind>(kind: K, key: string): RecordOf<K> | undefined {
    return this.one(kind, 'where idempotency_key = @key', { key });
  }

  idempotencyInput(kind: StreamKind, id: string): string | null {
    // Asked only when a start reuses a key: not worth a prepared statement kept per kind.
    const statement = this.opened.prepare<string | null>(
      `select idempotency_input from "${TABLE_NAMES[kind]}" where id = @id`,
      'first',
    );
    return statement.get({ id }) ?? null;
  }

  findOpenInRoom<K extends StreamKind>(kind: K, provider: ProviderId, roomId: string): RecordOf<K> | undefined {
    const where =
      `where provider = @provider and room_id = @roomId and ${statusIn(polledStatuses(kind))} ` +
      'order by created_at desc, id desc limit 1';
    return this.one(kind, where, { provider, roomId });
  }

  /**
   * Changes as soon as anything in the database may have: a row this connection wrote (SQLite's
   * `total_changes()`, counted even before the commit) or a commit by any other connection, from
   * this process or another (`data_version`). Both in one statement: each statement is a round
   * through better-sqlite3's binding, on every request of `activeLivestreams`.
   */
  private changeStamp(): string {
    this.changeStampStatement ??= this.sqlite
      .prepare<[], string>("select total_changes() || ':' || data_version from pragma_data_version")
      .pluck();
    return this.changeStampStatement.get() as string;
  }

  listActive<K extends StreamKind>(kind: K, filter: StreamFilter): readonly RecordOf<K>[] {
    // Inside a transaction a read may see what a rollback will undo: neither cached nor served.
    if (this.sqlite.inTransaction) return this.readActive(kind, filter);
    const key = `${kind}\u0000${filter.provider ?? ''}\u0000${filter.roomId ?? ''}\u0000${filter.status ?? ''}`;
    const stamp = this.changeStamp();
    const cached = this.activeCache.get(key);
    if (cached?.stamp === stamp) return cached.records as readonly RecordOf<K>[];
    const records = this.readActive(kind, filter);
    // Bounded: one entry per filter asked for (a room filter can name any room).
    if (this.activeCache.size >= 256) this.activeCache.clear();
    this.activeCache.set(key, { stamp, records });
    return records;
  }

  private readActive<K extends StreamKind>(kind: K, filter: StreamFilter): RecordOf<K>[] {
    // One prepared statement per kind and set of filters given. The query path of
    // `activeLivestreams` (every active stream): the rows come as one JSON array of arrays: one
    // string to parse costs less than handing over each value (18 per row) to JavaScript one by
    // one, and JSON keeps every value's type (text, integer, null).
    const shape = `${kind}:${filter.provider ? 'p' : ''}${filter.roomId ? 'r' : ''}${filter.status ? 's' : ''}`;
    let statement = this.listActiveStatements.get(shape);
    if (!statement) {
      const statuses = activeStatuses(kind);
      const conditions = [
        // The same rows as the statuses; lets a room's list read the one-active index.
        ACTIVE_PREDICATE,
        `status in (${statuses.map((_, i) => `@active${i}`).join(', ')})`,
        ...filterConditions(filter),
      ];
      const prepared = this.opened.prepare<string>(
        `select json_group_array(json_array(${RECORD_COLUMNS[kind]}) order by created_at desc, id desc) ` +
          `from "${TABLE_NAMES[kind]}" where ${conditions.join(' and ')}`,
        'first',
      );
      const active = Object.fromEntries(statuses.map((status, i) => [`active${i}`, status]));
      statement = (params) => JSON.parse(prepared.get({ ...active, ...params }) ?? '[]') as StreamRow[];
      this.listActiveStatements.set(shape, statement);
    }
    return fromRows(kind, statement(filterParams(filter)));
  }

  page<K extends StreamKind>(kind: K, request: PageRequest): RecordOf<K>[] {
    const conditions = filterConditions(request);
    const params = filterParams(request);
    if (request.after) {
      conditions.push('(created_at < @afterAt or (created_at = @afterAt and id < @afterId))');
      params.afterAt = request.after.createdAt;
      params.afterId = request.after.id;
    }
    const where = conditions.length > 0 ? `where ${conditions.join(' and ')} ` : '';
    params.limit = request.first + 1;
    return fromRows(kind, this.read(kind, `${where}order by created_at desc, id desc limit @limit`).all(params));
  }

  listByRooms<K extends StreamKind>(kind: K, roomIds: readonly string[]): RecordOf<K>[] {
    if (roomIds.length === 0) return [];
    const where = 'where room_id in (select value from json_each(@rooms)) order by created_at desc, id desc';
    return fromRows(kind, this.read(kind, where).all({ rooms: JSON.stringify(roomIds) }));
  }

  insert(kind: StreamKind, row: NewStream): void {
    const t = kind === 'livestream' ? livestreams : recordings;
    this.db.insert(t).values(row).run();
  }

  update(kind: StreamKind, id: string, patch: StreamWrite): void {
    const columns = STREAM_COLUMNS[kind];
    const fields = (Object.keys(patch) as (keyof StreamWrite)[])
      .filter((field) => patch[field] !== undefined && columns.has(field))
      .sort();
    if (fields.length === 0) return;
    // One prepared statement per kind and set of fields changed (apply changes few shapes), its
    // values positional (the fields' order, then the id).
    const shape = `${kind}:${fields.join(',')}`;
    let statement = this.updates.get(shape);
    if (!statement) {
      const set = fields.map((field) => `"${columns.get(field)}" = ?`).join(', ');
      statement = this.opened.prepare<never>(`update "${TABLE_NAMES[kind]}" set ${set} where id = ?`);
      if (this.updates.size < 256) this.updates.set(shape, statement);
    }
    const values: unknown[] = new Array(fields.length + 1);
    for (let i = 0; i < fields.length; i++) values[i] = toSqlite(patch[fields[i] as keyof StreamWrite]);
    values[fields.length] = id;
    statement.run(values);
  }
}

function filterConditions(filter: StreamFilter): string[] {
  const conditions: string[] = [];
  if (filter.provider) conditions.push('provider = @provider');
  if (filter.roomId) conditions.push('room_id = @roomId');
  if (filter.status) conditions.push('status = @status');
  return conditions;
}

function filterParams(filter: StreamFilter): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  if (filter.provider) params.provider = filter.provider;
  if (filter.roomId) params.roomId = filter.roomId;
  if (filter.status) params.status = filter.status;
  return params;
}
