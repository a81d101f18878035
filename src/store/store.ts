import type { Statement as SqliteStatement } from 'better-sqlite3';
import {
  and,
  asc,
  count,
  desc,
  eq,
  getTableColumns,
  gt,
  inArray,
  isNotNull,
  isNull,
  lt,
  lte,
  or,
  type SQL,
  sql,
} from 'drizzle-orm';
import { activeStatuses, type ProviderId, polledStatuses as polled, type StreamKind } from '../domain/status.js';
import type {
  AssetInput,
  LivestreamRecord,
  RecordingAssetRecord,
  RecordingRecord,
  RecordOf,
  RoomAutomationRecord,
  StatusEventRecord,
  StreamRecord,
} from '../domain/types.js';
import { type Db, migrationsApplied, type OpenedDatabase, openDatabase, type Statement } from './database.js';
import {
  livestreams,
  recordingAssets,
  recordings,
  roomAutomations,
  roomPeers,
  statusEvents,
  webhookDeliveries,
} from './tables.js';

// Both stream tables share every column a generic query touches; livestreams only add more.
type StreamTable = typeof recordings;
const TABLES: Record<StreamKind, StreamTable> = {
  livestream: livestreams as unknown as StreamTable,
  recording: recordings,
};

export interface StreamFilter {
  provider?: ProviderId | null;
  roomId?: string | null;
  status?: string | null;
}

export interface PageRequest extends StreamFilter {
  first: number;
  after?: { createdAt: number; id: string } | null;
}

export type NewStream = Omit<StreamRecord, 'status'> & {
  status: string;
  options: string | null;
  nextPollAt?: Date | null;
  pollIntervalMs?: number | null;
};

export type StreamPatch = Partial<
  Omit<LivestreamRecord, 'id' | 'provider' | 'createdAt' | 'idempotencyKey' | 'status'> & {
    status: string;
  }
>;

/** A patch plus the stream's poll slot, written in the same statement (see PollSchedule). */
export type StreamWrite = StreamPatch & { nextPollAt?: Date | null; pollIntervalMs?: number | null };

export interface NewStatusEvent {
  streamKind: StreamKind;
  streamId: string;
  status: string;
  vendorStatus: string | null;
  source: string;
  version: number;
  applied: boolean;
  eventId: string | null;
  payload: string | null;
  at: Date;
}

/** Every SQL statement of the service lives behind this class. */
export class Store {
  readonly db: Db;
  private readonly opened: OpenedDatabase;
  /** What waits for the current outermost transaction to commit. */
  private readonly committed: (() => void)[] = [];
  /** Writes waiting for the next group commit. */
  private readonly group: { fn: () => unknown; resolve: (value: unknown) => void; reject: (error: unknown) => void }[] =
    [];
  /**
   * The hot paths' statements (webhook intake, apply, subscriptions), prepared once: building
   * and preparing SQL on each call costs more than running it. The ones every webhook delivery
   * runs are plain SQL with rows mapped by hand: drizzle's generic mapping cost more than
   * SQLite's own work on them.
   */
  private readonly statements = new Map<StreamKind, ReturnType<Store['prepare']>>();
  private insertDeliveryStatement?: Statement<number>;
  private markDeliveryStatement?: ReturnType<Store['prepareMarkDelivery']>;
  private insertEventStatement?: Statement<never>;
  private readonly updateStatements = new Map<string, Statement<never>>();
  private readonly pendingStatements = new Map<
    string,
    { all(params: Record<string, unknown>): (typeof webhookDeliveries.$inferSelect)[] }
  >();
  private readonly listActiveStatements = new Map<string, (params: Record<string, unknown>) => RawStreamRow[]>();
  /**
   * `listActive` answers as last read, while the database has not changed since (see
   * `changeStamp`): dashboards ask the same list far more often than any stream changes.
   */
  private readonly activeCache = new Map<string, { stamp: string; records: readonly StreamRecord[] }>();
  private changeStampStatements?: { changes: SqliteStatement<[], number>; version: SqliteStatement<[], number> };
  private hasEventStatement?: Statement<number>;

  /** Transaction control (not reported to `onStatement` listeners). */
  private readonly control: Record<
    'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo',
    SqliteStatement
  >;

  constructor(url: string) {
    this.opened = openDatabase(url);
    this.db = this.opened.db;
    const sqlite = this.opened.sqlite;
    this.control = {
      begin: sqlite.prepare('BEGIN IMMEDIATE'),
      commit: sqlite.prepare('COMMIT'),
      rollback: sqlite.prepare('ROLLBACK'),
      // Nested savepoints may share a name: RELEASE and ROLLBACK TO act on the innermost.
      savepoint: sqlite.prepare('SAVEPOINT apply'),
      release: sqlite.prepare('RELEASE apply'),
      rollbackTo: sqlite.prepare('ROLLBACK TO apply'),
    };
  }

  onStatement(listener: (sql: string) => void): () => void {
    return this.opened.onStatement(listener);
  }

  /**
   * Runs `fn` in one write transaction (BEGIN IMMEDIATE), committing only if it returns. Called
   * inside another transaction, it is a savepoint of that one: nothing is durable until the
   * outermost commits, so what waits for durability waits for that (see `afterCommit`).
   *
   * Transaction control runs through statements prepared once: better-sqlite3's
   * `transaction(fn)` builds a new wrapper on every call, which cost more than the writes of a
   * webhook delivery (two or three of them per delivery).
   */
  transaction<T>(fn: () => T): T {
    const sqlite = this.opened.sqlite;
    const control = this.control;
    if (sqlite.inTransaction) {
      // A savepoint: if it rolls back, so does what it left waiting for the commit.
      const mark = this.committed.length;
      control.savepoint.run();
      try {
        const result = fn();
        control.release.run();
        return result;
      } catch (error) {
        this.committed.length = mark;
        // SQLite may already have rolled the whole transaction back (a full disk, say).
        if (sqlite.inTransaction) {
          control.rollbackTo.run();
          control.release.run();
        }
        throw error;
      }
    }
    let result: T;
    control.begin.run();
    try {
      result = fn();
      control.commit.run();
    } catch (error) {
      this.committed.length = 0;
      if (sqlite.inTransaction) control.rollback.run();
      throw error;
    }
    // Committed: every waiting callback runs, even if one of them throws (the first error is rethrown).
    let failure: { error: unknown } | undefined;
    for (const run of this.committed.splice(0)) {
      try {
        run();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
    return result;
  }

  /**
   * Group commit: `fn` runs in a transaction shared with every other `groupTransaction` asked for
   * in the same turn of the event loop, each in its own savepoint (one failing rolls back only
   * itself), and the promise settles only once that shared transaction has committed. Many
   * concurrent writers then pay for one durable commit (one fsync) instead of one each, and
   * still hear "done" only when their write is durable.
   */
  groupTransaction<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.group.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (this.group.length === 1) setImmediate(() => this.commitGroup());
    });
  }

  private commitGroup(): void {
    const batch = this.group.splice(0);
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      this.transaction(() => {
        for (const item of batch) {
          try {
            outcomes.push({ ok: true, value: this.transaction(item.fn) });
          } catch (error) {
            outcomes.push({ ok: false, value: error });
          }
        }
      });
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok) item.resolve(outcome.value);
      else item.reject(outcome?.value);
    });
  }

  /** True inside `transaction` (or a group commit). */
  get inTransaction(): boolean {
    return this.opened.sqlite.inTransaction;
  }

  /** Runs `fn` once the current transaction has committed (at once outside one); dropped on rollback. */
  afterCommit(fn: () => void): void {
    if (this.opened.sqlite.inTransaction) this.committed.push(fn);
    else fn();
  }

  private prepare(kind: StreamKind) {
    const t = TABLES[kind];
    const provider = sql.placeholder('provider');
    const select = `select ${RAW_COLUMNS[kind]} from "${TABLE_NAMES[kind]}"`;
    return {
      byId: this.opened.prepare<RawStreamRow>(`${select} where id = @id`, 'arrays'),
      byExternalId: this.opened.prepare<RawStreamRow>(
        `${select} where provider = @provider and external_id = @externalId order by created_at desc limit 1`,
        'arrays',
      ),
      active: this.db
        .select()
        .from(t)
        .where(
          and(
            eq(t.provider, provider),
            eq(t.roomId, sql.placeholder('roomId')),
            inArray(t.status, [...activeStatuses(kind)]),
          ),
        )
        .prepare(),
    };
  }

  private prepareMarkDelivery() {
    return this.db
      .update(webhookDeliveries)
      .set({ processedAt: sql`${sql.placeholder('at')}` })
      .where(eq(webhookDeliveries.id, sql.placeholder('id')))
      .prepare();
  }

  private prepared(kind: StreamKind) {
    let statements = this.statements.get(kind);
    if (!statements) {
      statements = this.prepare(kind);
      this.statements.set(kind, statements);
    }
    return statements;
  }

  isReady(): boolean {
    try {
      return this.opened.sqlite.open && migrationsApplied(this.opened.sqlite);
    } catch {
      return false;
    }
  }

  close(): void {
    this.opened.close();
  }

  // ── streams ────────────────────────────────────────────────────────────────

  getStream<K extends StreamKind>(kind: K, id: string): RecordOf<K> | undefined {
    const row = this.prepared(kind).byId.get({ id });
    return row ? fromRawRow(kind, row) : undefined;
  }

  getStreams<K extends StreamKind>(kind: K, ids: readonly string[]): RecordOf<K>[] {
    if (ids.length === 0) return [];
    const t = TABLES[kind];
    return this.db
      .select()
      .from(t)
      .where(inArray(t.id, [...ids]))
      .all()
      .map((row) => toRecord(kind, row));
  }

  findByExternalId<K extends StreamKind>(kind: K, provider: ProviderId, externalId: string): RecordOf<K> | undefined {
    const row = this.prepared(kind).byExternalId.get({ provider, externalId });
    return row ? fromRawRow(kind, row) : undefined;
  }

  findActive<K extends StreamKind>(kind: K, provider: ProviderId, roomId: string): RecordOf<K> | undefined {
    const row = this.prepared(kind).active.get({ provider, roomId });
    return row ? toRecord(kind, row) : undefined;
  }

  findByIdempotencyKey<K extends StreamKind>(kind: K, key: string): RecordOf<K> | undefined {
    const t = TABLES[kind];
    const row = this.db.select().from(t).where(eq(t.idempotencyKey, key)).get();
    return row ? toRecord(kind, row) : undefined;
  }

  /**
   * Changes as soon as anything in the database may have: a row this connection wrote (SQLite's
   * `total_changes()`, counted even before the commit) or a commit by any other connection, from
   * this process or another (`data_version`).
   */
  private changeStamp(): string {
    this.changeStampStatements ??= {
      changes: this.opened.sqlite.prepare<[], number>('select total_changes()').pluck(),
      version: this.opened.sqlite.prepare<[], number>('pragma data_version').pluck(),
    };
    return `${this.changeStampStatements.changes.get()}:${this.changeStampStatements.version.get()}`;
  }

  /**
   * Every stream of `kind` that is not final (STARTING to STOPPING), newest first, filtered. The
   * records are shared with other callers until something changes: they must not be modified.
   */
  listActive<K extends StreamKind>(kind: K, filter: StreamFilter): readonly RecordOf<K>[] {
    // Inside a transaction a read may see what a rollback will undo: neither cached nor served.
    if (this.opened.sqlite.inTransaction) return this.readActive(kind, filter);
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
    // `activeLivestreams` (every active stream): plain SQL mapped by hand (`fromRawRow`), since
    // drizzle's generic row mapping cost more than SQLite's read of the rows. The rows come as
    // one JSON array of arrays: one string to parse costs less than handing over each value
    // (18 per row) to JavaScript one by one, and JSON keeps every value's type (text, integer, null).
    const shape = `${kind}:${filter.provider ? 'p' : ''}${filter.roomId ? 'r' : ''}${filter.status ? 's' : ''}`;
    let statement = this.listActiveStatements.get(shape);
    if (!statement) {
      const statuses = activeStatuses(kind);
      const conditions = [`status in (${statuses.map((_, i) => `@active${i}`).join(', ')})`];
      if (filter.provider) conditions.push('provider = @provider');
      if (filter.roomId) conditions.push('room_id = @roomId');
      if (filter.status) conditions.push('status = @status');
      const prepared = this.opened.prepare<string>(
        `select json_group_array(json_array(${RAW_COLUMNS[kind]}) order by created_at desc, id desc) ` +
          `from "${TABLE_NAMES[kind]}" where ${conditions.join(' and ')}`,
        'first',
      );
      const active = Object.fromEntries(statuses.map((status, i) => [`active${i}`, status]));
      statement = (params) => JSON.parse(prepared.get({ ...active, ...params }) ?? '[]') as RawStreamRow[];
      this.listActiveStatements.set(shape, statement);
    }
    const params: Record<string, unknown> = {};
    if (filter.provider) params.provider = filter.provider;
    if (filter.roomId) params.roomId = filter.roomId;
    if (filter.status) params.status = filter.status;
    const rows = statement(params);
    const records: RecordOf<K>[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) records[i] = fromRawRow(kind, rows[i] as RawStreamRow);
    return records;
  }

  /**
   * The newest stream of a room that is not final (an UPLOADING recording included): where a
   * vendor event that names only its room and session belongs.
   */
  findOpenInRoom<K extends StreamKind>(kind: K, provider: ProviderId, roomId: string): RecordOf<K> | undefined {
    const t = TABLES[kind];
    const row = this.db
      .select()
      .from(t)
      .where(and(eq(t.provider, provider), eq(t.roomId, roomId), inArray(t.status, polledStatuses(kind))))
      .orderBy(desc(t.createdAt), desc(t.id))
      .get();
    return row ? toRecord(kind, row) : undefined;
  }

  /** Newest first, keyset-paginated on (createdAt, id). Returns one extra row to tell if more follow. */
  page<K extends StreamKind>(kind: K, request: PageRequest): RecordOf<K>[] {
    const t = TABLES[kind];
    const conditions = filterConditions(t, request);
    if (request.after) {
      const at = new Date(request.after.createdAt);
      const older = or(lt(t.createdAt, at), and(eq(t.createdAt, at), lt(t.id, request.after.id)));
      if (older) conditions.push(older);
    }
    return this.db
      .select()
      .from(t)
      .where(and(...conditions))
      .orderBy(desc(t.createdAt), desc(t.id))
      .limit(request.first + 1)
      .all()
      .map((row) => toRecord(kind, row));
  }

  /** Every stream of the given rooms, newest first (one query for a batch of rooms). */
  listByRooms<K extends StreamKind>(kind: K, roomIds: readonly string[]): RecordOf<K>[] {
    if (roomIds.length === 0) return [];
    const t = TABLES[kind];
    return this.db
      .select()
      .from(t)
      .where(inArray(t.roomId, [...roomIds]))
      .orderBy(desc(t.createdAt), desc(t.id))
      .all()
      .map((row) => toRecord(kind, row));
  }

  insertStream(kind: StreamKind, row: NewStream): void {
    const t = kind === 'livestream' ? livestreams : recordings;
    this.db.insert(t).values(row).run();
  }

  /** Writes the fields `patch` gives (undefined ones are left alone); a livestream's own fields are skipped for a recording. */
  updateStream(kind: StreamKind, id: string, patch: StreamWrite): void {
    const columns = STREAM_COLUMNS[kind];
    const fields = (Object.keys(patch) as (keyof StreamWrite)[])
      .filter((field) => patch[field] !== undefined && columns.has(field))
      .sort();
    if (fields.length === 0) return;
    // One prepared statement per kind and set of fields changed (apply changes few shapes).
    const shape = `${kind}:${fields.join(',')}`;
    let statement = this.updateStatements.get(shape);
    if (!statement) {
      const set = fields.map((field) => `"${columns.get(field)}" = @${field}`).join(', ');
      statement = this.opened.prepare<never>(`update "${TABLE_NAMES[kind]}" set ${set} where id = @id`);
      if (this.updateStatements.size < 256) this.updateStatements.set(shape, statement);
    }
    const params: Record<string, unknown> = { id };
    for (const field of fields) params[field] = toSqlite(patch[field]);
    statement.run(params);
  }

  streamOptions(kind: StreamKind, id: string): string | null {
    const t = TABLES[kind];
    return this.db.select({ options: t.options }).from(t).where(eq(t.id, id)).get()?.options ?? null;
  }

  // ── history ────────────────────────────────────────────────────────────────

  insertEvent(event: NewStatusEvent): void {
    this.insertEventStatement ??= this.opened.prepare<never>(
      'insert into "status_events" (stream_kind, stream_id, status, vendor_status, source, version, applied, event_id, payload, at) ' +
        'values (@streamKind, @streamId, @status, @vendorStatus, @source, @version, @applied, @eventId, @payload, @at)',
    );
    this.insertEventStatement.run({ ...event, applied: event.applied ? 1 : 0, at: event.at.getTime() });
  }

  hasEvent(kind: StreamKind, streamId: string, eventId: string): boolean {
    this.hasEventStatement ??= this.opened.prepare<number>(
      'select 1 from "status_events" where stream_kind = @kind and stream_id = @streamId and event_id = @eventId',
      'first',
    );
    return this.hasEventStatement.get({ kind, streamId, eventId }) !== undefined;
  }

  /** History of several streams in one query, oldest first per stream. */
  eventsFor(kind: StreamKind, streamIds: readonly string[]): StatusEventRecord[] {
    if (streamIds.length === 0) return [];
    return this.db
      .select()
      .from(statusEvents)
      .where(and(eq(statusEvents.streamKind, kind), inArray(statusEvents.streamId, [...streamIds])))
      .orderBy(asc(statusEvents.id))
      .all()
      .map((row) => ({
        ...row,
        streamKind: row.streamKind as StreamKind,
        source: row.source as StatusEventRecord['source'],
      }));
  }

  // ── recording assets ───────────────────────────────────────────────────────

  /**
   * Adds assets, replacing one with the same vendor id (a renewed download URL, say). An asset
   * known by its path alone (100ms `beam.recording.success`) and the same file listed later with
   * its vendor id are one asset: matched by path, the vendor id is kept.
   */
  upsertAssets(recordingId: string, assets: readonly AssetInput[], now: Date): void {
    for (const asset of assets) {
      const values = {
        recordingId,
        externalId: asset.externalId ?? null,
        type: asset.type,
        path: asset.path ?? null,
        size: asset.size ?? null,
        durationSeconds: asset.durationSeconds ?? null,
        url: asset.url ?? null,
        urlExpiresAt: asset.urlExpiresAt ?? null,
      };
      const existing =
        asset.externalId == null
          ? undefined
          : this.db
              .select({ id: recordingAssets.id })
              .from(recordingAssets)
              .where(
                and(eq(recordingAssets.recordingId, recordingId), eq(recordingAssets.externalId, asset.externalId)),
              )
              .get();
      const samePath =
        existing || asset.path == null
          ? undefined
          : this.db
              .select({ id: recordingAssets.id, externalId: recordingAssets.externalId })
              .from(recordingAssets)
              .where(
                and(
                  eq(recordingAssets.recordingId, recordingId),
                  eq(recordingAssets.path, asset.path),
                  asset.externalId == null ? undefined : isNull(recordingAssets.externalId),
                ),
              )
              .get();
      if (existing) {
        this.db.update(recordingAssets).set(values).where(eq(recordingAssets.id, existing.id)).run();
      } else if (samePath) {
        const { externalId, ...rest } = values;
        this.db
          .update(recordingAssets)
          .set(externalId == null ? rest : values)
          .where(eq(recordingAssets.id, samePath.id))
          .run();
      } else {
        this.db
          .insert(recordingAssets)
          .values({ id: crypto.randomUUID(), createdAt: now, ...values })
          .run();
      }
    }
  }

  /** Stores a renewed download URL of one asset. */
  updateAssetUrl(id: string, url: string, urlExpiresAt: Date | null): void {
    this.db.update(recordingAssets).set({ url, urlExpiresAt }).where(eq(recordingAssets.id, id)).run();
  }

  assetsFor(recordingIds: readonly string[]): RecordingAssetRecord[] {
    if (recordingIds.length === 0) return [];
    return this.db
      .select()
      .from(recordingAssets)
      .where(inArray(recordingAssets.recordingId, [...recordingIds]))
      .orderBy(asc(recordingAssets.createdAt))
      .all();
  }

  // ── webhook deliveries ─────────────────────────────────────────────────────

  /** Records a delivery; false when the same provider + delivery id was recorded before. */
  insertDelivery(delivery: {
    provider: ProviderId;
    deliveryId: string;
    eventType: string | null;
    payload: string;
    receivedAt: Date;
    /** Set when there is nothing to apply (room news only): recorded as done at once. */
    processedAt?: Date | null;
  }): { inserted: boolean; id: number } {
    this.insertDeliveryStatement ??= this.opened.prepare<number>(
      'insert into "webhook_deliveries" (provider, delivery_id, event_type, payload, received_at, processed_at) ' +
        'values (@provider, @deliveryId, @eventType, @payload, @receivedAt, @processedAt) ' +
        'on conflict (provider, delivery_id) do nothing returning id',
      'first',
    );
    const id = this.insertDeliveryStatement.get({
      provider: delivery.provider,
      deliveryId: delivery.deliveryId,
      eventType: delivery.eventType,
      payload: delivery.payload,
      receivedAt: delivery.receivedAt.getTime(),
      processedAt: delivery.processedAt?.getTime() ?? null,
    });
    return id === undefined ? { inserted: false, id: 0 } : { inserted: true, id };
  }

  markDeliveryProcessed(id: number, at: Date): void {
    this.markDeliveryStatement ??= this.prepareMarkDelivery();
    // A placeholder inside raw SQL reaches the driver as it is: epoch milliseconds (timestamp_ms).
    this.markDeliveryStatement.run({ id, at: at.getTime() });
  }

  /** Marks a delivery as waiting for its stream (recorded as processed in the same transaction). */
  markDeliveryPending(id: number): void {
    this.markDeliveryStatement ??= this.prepareMarkDelivery();
    this.markDeliveryStatement.run({ id, at: null });
  }

  /** Deliveries some of whose events have not found their stream yet, oldest first. */
  pendingDeliveries(provider: ProviderId | null, receivedAfter: Date, limit: number) {
    // Asked after every change that gives a stream its vendor id: prepared once per shape.
    const key = provider ? 'provider' : 'any';
    let statement = this.pendingStatements.get(key);
    if (!statement) {
      statement = this.db
        .select()
        .from(webhookDeliveries)
        .where(
          and(
            isNull(webhookDeliveries.processedAt),
            // Raw placeholder: compared as epoch milliseconds (timestamp_ms).
            gt(webhookDeliveries.receivedAt, sql`${sql.placeholder('receivedAfter')}`),
            provider ? eq(webhookDeliveries.provider, sql.placeholder('provider')) : undefined,
          ),
        )
        .orderBy(asc(webhookDeliveries.id))
        .limit(sql.placeholder('limit'))
        .prepare();
      this.pendingStatements.set(key, statement);
    }
    return statement.all({ provider, receivedAfter: receivedAfter.getTime(), limit });
  }

  /** How many deliveries per provider wait for their stream (received after `receivedAfter`). */
  pendingDeliveryCounts(receivedAfter: Date): Map<ProviderId, number> {
    const rows = this.db
      .select({ provider: webhookDeliveries.provider, n: count() })
      .from(webhookDeliveries)
      .where(and(isNull(webhookDeliveries.processedAt), gt(webhookDeliveries.receivedAt, receivedAfter)))
      .groupBy(webhookDeliveries.provider)
      .all();
    return new Map(rows.map((row) => [row.provider as ProviderId, row.n]));
  }

  countDeliveries(provider: ProviderId): number {
    return (
      this.db.select({ n: count() }).from(webhookDeliveries).where(eq(webhookDeliveries.provider, provider)).get()?.n ??
      0
    );
  }

  // ── room presence ──────────────────────────────────────────────────────────

  addPeer(provider: ProviderId, roomId: string, peerId: string, at: Date): void {
    this.db.insert(roomPeers).values({ provider, roomId, peerId, joinedAt: at }).onConflictDoNothing().run();
  }

  removePeer(provider: ProviderId, roomId: string, peerId: string): void {
    this.db
      .delete(roomPeers)
      .where(and(eq(roomPeers.provider, provider), eq(roomPeers.roomId, roomId), eq(roomPeers.peerId, peerId)))
      .run();
  }

  clearPeers(provider: ProviderId, roomId: string): void {
    this.db
      .delete(roomPeers)
      .where(and(eq(roomPeers.provider, provider), eq(roomPeers.roomId, roomId)))
      .run();
  }

  countPeers(provider: ProviderId, roomId: string): number {
    return (
      this.db
        .select({ n: count() })
        .from(roomPeers)
        .where(and(eq(roomPeers.provider, provider), eq(roomPeers.roomId, roomId)))
        .get()?.n ?? 0
    );
  }

  // ── room automation ────────────────────────────────────────────────────────

  upsertAutomation(rule: RoomAutomationRecord): void {
    this.db
      .insert(roomAutomations)
      .values(rule)
      .onConflictDoUpdate({
        target: [roomAutomations.provider, roomAutomations.roomId],
        set: {
          recordOn: rule.recordOn,
          stopWhenEmpty: rule.stopWhenEmpty,
          meetingUrl: rule.meetingUrl,
          updatedAt: rule.updatedAt,
        },
      })
      .run();
  }

  getAutomation(provider: ProviderId, roomId: string): RoomAutomationRecord | undefined {
    return this.automationsFor([roomId]).find((rule) => rule.provider === provider);
  }

  automationsFor(roomIds: readonly string[]): RoomAutomationRecord[] {
    if (roomIds.length === 0) return [];
    return this.db
      .select()
      .from(roomAutomations)
      .where(inArray(roomAutomations.roomId, [...roomIds]))
      .orderBy(desc(roomAutomations.updatedAt))
      .all()
      .map((row) => ({
        ...row,
        provider: row.provider as ProviderId,
        recordOn: row.recordOn as RoomAutomationRecord['recordOn'],
      }));
  }

  // ── polling ────────────────────────────────────────────────────────────────
  // Each stream that is not final carries its own schedule (next_poll_at, poll_interval_ms) and a
  // lease (poll_lease_owner, poll_lease_until): a poller claims due streams atomically, reads them
  // from the vendor, then writes the next due time and releases the lease in one statement.
  // Plain UPDATE … WHERE id IN (SELECT … LIMIT n) … RETURNING, so a PostgreSQL store can mirror it
  // (there the outer WHERE re-checks the lease on rows another replica took meanwhile).

  /** Claims up to `limit` streams that are due and not leased (or whose lease expired). */
  claimDuePolls(kind: StreamKind, claim: PollClaimRequest): PollClaim[] {
    if (claim.limit <= 0 || claim.providers?.length === 0) return [];
    const t = TABLES[kind];
    const due = and(
      isPolled(t, kind),
      lte(t.nextPollAt, claim.now),
      or(isNull(t.pollLeaseUntil), lte(t.pollLeaseUntil, claim.now)),
      claim.providers ? inArray(t.provider, [...claim.providers]) : undefined,
    );
    const candidates = this.db.select({ id: t.id }).from(t).where(due).orderBy(asc(t.nextPollAt)).limit(claim.limit);
    // Most ticks find nothing due: answer that without taking the write lock.
    if (candidates.all().length === 0) return [];
    return this.transaction(() =>
      this.db
        .update(t)
        .set({ pollLeaseOwner: claim.owner, pollLeaseUntil: claim.leaseUntil })
        .where(and(inArray(t.id, candidates), due))
        .returning({
          id: t.id,
          provider: t.provider,
          roomId: t.roomId,
          externalId: t.externalId,
          sessionId: t.sessionId,
          status: t.status,
          version: t.version,
          nextPollAt: t.nextPollAt,
          pollIntervalMs: t.pollIntervalMs,
          createdAt: t.createdAt,
          updatedAt: t.updatedAt,
        })
        .all()
        // RETURNING follows no ORDER BY: oldest due first again, so nobody waits behind the budget twice.
        .sort((x, y) => (x.nextPollAt?.getTime() ?? 0) - (y.nextPollAt?.getTime() ?? 0))
        .map(({ nextPollAt: _due, ...row }) => ({ ...row, kind, provider: row.provider as ProviderId })),
    );
  }

  /**
   * Writes the schedule after a poll and releases the lease, only while `owner` still holds it.
   * A stream that became final meanwhile drops out of the schedule. False when the lease was lost.
   */
  finishPoll(kind: StreamKind, id: string, owner: string, next: { at: Date; intervalMs: number }): boolean {
    const t = TABLES[kind];
    return this.transaction(() => {
      const row = this.db.select({ status: t.status }).from(t).where(eq(t.id, id)).get();
      const stillPolled = row !== undefined && polledStatuses(kind).includes(row.status);
      const result = this.db
        .update(t)
        .set({
          nextPollAt: stillPolled ? next.at : null,
          pollIntervalMs: stillPolled ? next.intervalMs : null,
          pollLeaseOwner: null,
          pollLeaseUntil: null,
        })
        .where(and(eq(t.id, id), eq(t.pollLeaseOwner, owner)))
        .run();
      return result.changes > 0;
    });
  }

  /**
   * At boot: every stream that is not final is due now with the base interval (a stream created
   * before the restart must not wait out a long backed-off interval). Answers how many.
   */
  resumePolling(kind: StreamKind, now: Date, intervalMs: number): number {
    const t = TABLES[kind];
    return this.transaction(
      () =>
        this.db
          .update(t)
          .set({ nextPollAt: now, pollIntervalMs: intervalMs })
          .where(and(inArray(t.status, polledStatuses(kind)), or(isNull(t.nextPollAt), gt(t.nextPollAt, now))))
          .run().changes,
    );
  }

  /** When the earliest stream not leased by anyone becomes due; null when none is scheduled. */
  nextPollDue(kind: StreamKind, now: Date): Date | null {
    const t = TABLES[kind];
    // The first in due order: read along the next_poll_at index, it stops at the first free one.
    const row = this.db
      .select({ at: t.nextPollAt })
      .from(t)
      .where(and(isNotNull(t.nextPollAt), isPolled(t, kind), or(isNull(t.pollLeaseUntil), lte(t.pollLeaseUntil, now))))
      .orderBy(asc(t.nextPollAt))
      .limit(1)
      .get();
    return row?.at ?? null;
  }

  /** Gives up every lease `owner` holds (graceful stop), leaving the schedule as it is. */
  releasePollLeases(owner: string): number {
    let released = 0;
    this.transaction(() => {
      for (const t of Object.values(TABLES)) {
        released += this.db
          .update(t)
          .set({ pollLeaseOwner: null, pollLeaseUntil: null })
          .where(eq(t.pollLeaseOwner, owner))
          .run().changes;
      }
    });
    return released;
  }
}

export interface PollClaimRequest {
  owner: string;
  now: Date;
  leaseUntil: Date;
  limit: number;
  /** Only streams of these providers; all when absent. */
  providers?: readonly ProviderId[];
}

/** A stream a poller holds the lease of, with what it needs to read it and to reschedule it. */
export interface PollClaim {
  kind: StreamKind;
  id: string;
  provider: ProviderId;
  roomId: string;
  externalId: string | null;
  sessionId: string | null;
  status: string;
  version: number;
  pollIntervalMs: number | null;
  createdAt: Date;
  updatedAt: Date;
}

/** Statuses the poller watches: every one that is not final. */
function polledStatuses(kind: StreamKind): string[] {
  return [...polled(kind)];
}

/**
 * The stream is one the poller watches, as a condition the schedule's queries check row by row
 * (`+status`: unary plus keeps SQLite from reading them along the status index, which holds every
 * active stream, instead of the next_poll_at one, which finds what is due at once).
 */
function isPolled(t: StreamTable, kind: StreamKind): SQL {
  return inArray(sql`+${t.status}`, polledStatuses(kind));
}

function filterConditions(t: StreamTable, filter: StreamFilter): SQL[] {
  const conditions: SQL[] = [];
  if (filter.provider) conditions.push(eq(t.provider, filter.provider));
  if (filter.roomId) conditions.push(eq(t.roomId, filter.roomId));
  if (filter.status) conditions.push(eq(t.status, filter.status));
  return conditions;
}

type StreamRow = typeof recordings.$inferSelect & Partial<typeof livestreams.$inferSelect>;

const TABLE_NAMES: Record<StreamKind, string> = { livestream: 'livestreams', recording: 'recordings' };
/** Field → SQLite column of each stream table, as tables.ts names them. */
const STREAM_COLUMNS: Record<StreamKind, ReadonlyMap<string, string>> = {
  livestream: columnNames(livestreams),
  recording: columnNames(recordings),
};

function columnNames(table: typeof livestreams | typeof recordings): ReadonlyMap<string, string> {
  return new Map(Object.entries(getTableColumns(table)).map(([field, column]) => [field, column.name]));
}

/** A value as the store's own SQL binds it: times as epoch milliseconds (timestamp_ms), booleans as 0/1. */
function toSqlite(value: unknown): unknown {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}
const COMMON_COLUMNS =
  'id, provider, room_id, external_id, session_id, status, vendor_status, version, failure_reason, ' +
  'idempotency_key, started_at, stopped_at, created_at, updated_at';
/** The columns a record holds, in `fromRawRow`'s order, as tables.ts names them in SQLite. */
const RAW_COLUMNS: Record<StreamKind, string> = {
  livestream: `${COMMON_COLUMNS}, playback_url, ingest_rtmp_url, ingest_stream_key, ingest_whip_url`,
  recording: COMMON_COLUMNS,
};

/** A stream row: RAW_COLUMNS in order, as `json_array` gives them (times in epoch milliseconds). */
type RawStreamRow = [
  id: string,
  provider: string,
  roomId: string,
  externalId: string | null,
  sessionId: string | null,
  status: string,
  vendorStatus: string | null,
  version: number,
  failureReason: string | null,
  idempotencyKey: string | null,
  startedAt: number | null,
  stoppedAt: number | null,
  createdAt: number,
  updatedAt: number,
  playbackUrl?: string | null,
  ingestRtmpUrl?: string | null,
  ingestStreamKey?: string | null,
  ingestWhipUrl?: string | null,
];

/** The record `toRecord` gives for the same row read through drizzle (`timestamp_ms` → Date). */
function fromRawRow<K extends StreamKind>(kind: K, row: RawStreamRow): RecordOf<K> {
  const startedAt = row[10];
  const stoppedAt = row[11];
  const recording: RecordingRecord = {
    id: row[0],
    provider: row[1] as ProviderId,
    roomId: row[2],
    externalId: row[3],
    sessionId: row[4],
    status: row[5] as RecordingRecord['status'],
    vendorStatus: row[6],
    version: row[7],
    failureReason: row[8],
    idempotencyKey: row[9],
    startedAt: startedAt === null ? null : new Date(startedAt),
    stoppedAt: stoppedAt === null ? null : new Date(stoppedAt),
    createdAt: new Date(row[12]),
    updatedAt: new Date(row[13]),
  };
  if (kind === 'recording') return recording as RecordOf<K>;
  const livestream: LivestreamRecord = {
    ...recording,
    status: row[5] as LivestreamRecord['status'],
    playbackUrl: row[14] ?? null,
    ingestRtmpUrl: row[15] ?? null,
    ingestStreamKey: row[16] ?? null,
    ingestWhipUrl: row[17] ?? null,
  };
  return livestream as RecordOf<K>;
}

function toRecord<K extends StreamKind>(kind: K, row: StreamRow): RecordOf<K> {
  const {
    options: _options,
    nextPollAt: _nextPollAt,
    pollIntervalMs: _pollIntervalMs,
    pollLeaseOwner: _pollLeaseOwner,
    pollLeaseUntil: _pollLeaseUntil,
    ...base
  } = row;
  const common = { ...base, provider: row.provider as ProviderId };
  if (kind === 'livestream') {
    const livestream: LivestreamRecord = {
      ...common,
      status: row.status as LivestreamRecord['status'],
      playbackUrl: row.playbackUrl ?? null,
      ingestRtmpUrl: row.ingestRtmpUrl ?? null,
      ingestStreamKey: row.ingestStreamKey ?? null,
      ingestWhipUrl: row.ingestWhipUrl ?? null,
    };
    return livestream as RecordOf<K>;
  }
  const recording: RecordingRecord = {
    id: common.id,
    provider: common.provider,
    roomId: common.roomId,
    externalId: common.externalId,
    sessionId: common.sessionId,
    status: row.status as RecordingRecord['status'],
    vendorStatus: common.vendorStatus,
    version: common.version,
    failureReason: common.failureReason,
    idempotencyKey: common.idempotencyKey,
    startedAt: common.startedAt,
    stoppedAt: common.stoppedAt,
    createdAt: common.createdAt,
    updatedAt: common.updatedAt,
  };
  return recording as RecordOf<K>;
}
