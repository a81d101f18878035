import { type Column, type SQL, sql } from 'drizzle-orm';

/**
 * The tables, once for both engines: every column's field, kind and meaning, and every index.
 * Each engine's drizzle schema (`tables.ts` for SQLite, `postgres/tables.ts`) builds its tables
 * from these, mapping each kind to a column type of its own (times: epoch milliseconds on SQLite,
 * `timestamptz` on PostgreSQL), so the two cannot drift apart and one row mapper serves both.
 * A column's name is its field in snake_case.
 *
 * Change log (see the change-log design): `status_events.id` is an applied change's POSITION, in
 * commit order (SQLite has one writer; PostgreSQL takes it under an advisory lock just before the
 * insert); an applied event keeps the stream's state after it in `snapshot` (ingest stream key
 * left out), replayed to a subscriber that resumes `after` a position; each stream row keeps the
 * position of its latest applied change in `change_position`.
 */

/** How a column is stored, as each engine's builders (`ColumnBuilders`) give it. */
export type BaseKind =
  | 'id' // text primary key
  | 'text'
  | 'int'
  | 'real'
  | 'bool'
  | 'time'
  /** A change-log position (`status_events.id`): 64 bits on PostgreSQL. */
  | 'position'
  /** A position, not null, 0 until the row has one. */
  | 'position!0'
  /** An ascending row id the database gives (a change-log position for `status_events`). */
  | 'serial'
  /** The id of a table of one row at most: 1. */
  | 'one'
  /** A recording's id, not null: the row is deleted with the recording. */
  | 'recording';

/** A kind, or `<kind>!`: the same, not null. */
export type ColumnKind = BaseKind | `${'text' | 'int' | 'bool' | 'time' | 'position'}!`;

export type Columns = Readonly<Record<string, ColumnKind>>;

/** A table: its name, its columns by field, its indexes. */
export interface TableSpec<N extends string = string, C extends Columns = Columns> {
  name: N;
  columns: C;
  indexes: readonly IndexSpec[];
}

function table<const N extends string, const C extends Columns>(
  name: N,
  columns: C,
  indexes: readonly IndexSpec[] = [],
): TableSpec<N, C> {
  return { name, columns, indexes };
}

/** `roomId` → `room_id`. */
export function columnName(field: string): string {
  return field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

export interface IndexSpec {
  name: string;
  /** Fields, in index order. */
  on: readonly [string, ...string[]];
  unique?: boolean;
  /** A partial index: which rows it holds (given the table's columns by field). */
  where?: (column: (field: string) => Column) => SQL;
}

const stream = {
  id: 'id',
  provider: 'text!',
  roomId: 'text!',
  externalId: 'text',
  sessionId: 'text',
  status: 'text!',
  vendorStatus: 'text',
  version: 'int!',
  failureReason: 'text',
  idempotencyKey: 'text',
  /** A hash of the start input the key was first used with: the same key with other input is a conflict. */
  idempotencyInput: 'text',
  // Polling: when the stream is next due, its current (backed-off) interval, and the lease that
  // lets exactly one poller (of possibly several replicas) read it at a time.
  nextPollAt: 'time',
  pollIntervalMs: 'int',
  pollLeaseOwner: 'text',
  pollLeaseUntil: 'time',
  /** The change-log position (status_events.id) of the latest applied change: the row's changeCursor. */
  changePosition: 'position!0',
  /** When retention pruned the history payloads of this (final) stream; null until then. */
  historyPrunedAt: 'time',
  startedAt: 'time',
  /** Set when the stream leaves its active statuses, never cleared: null exactly while it is active. */
  stoppedAt: 'time',
  createdAt: 'time!',
  updatedAt: 'time!',
} as const satisfies Columns;

/**
 * The active streams of a table: those whose `stopped_at` is still null. A stream's `stoppedAt`
 * is set in the very update that takes it out of its active statuses (`stopsCapture` in
 * lifecycle/changes.ts, the complement of `activeStatuses`) and never cleared, so this names the same
 * rows as `status in (<active statuses>)` while referring to a column a change between active
 * statuses (STARTING → LIVE) does not write: SQLite then leaves an index on it untouched, where a
 * predicate on `status` made it delete and re-insert the entry on every status change.
 */
export const ACTIVE_PREDICATE = 'stopped_at is null';

/** The indexes of a stream table, whose final statuses are given. */
function streamIndexes(name: string, final: string): IndexSpec[] {
  return [
    // At most one active stream per provider and room, enforced by the database itself. A read
    // meant to use it names `stopped_at is null` (ACTIVE_PREDICATE) among its conditions.
    {
      name: `${name}_one_active_per_room`,
      on: ['provider', 'roomId'],
      unique: true,
      where: (column) => sql`${column('stoppedAt')} is null`,
    },
    { name: `${name}_idempotency_key`, on: ['idempotencyKey'], unique: true },
    { name: `${name}_external_id`, on: ['provider', 'externalId'] },
    { name: `${name}_room`, on: ['provider', 'roomId', 'createdAt'] },
    { name: `${name}_created`, on: ['createdAt', 'id'] },
    { name: `${name}_status`, on: ['status'] },
    { name: `${name}_next_poll`, on: ['nextPollAt'] },
    // Final streams whose history retention has not pruned yet, oldest change first: holds about
    // RETENTION_DAYS of streams, and a stream enters it once (when it becomes final).
    { name: `${name}_prunable`, on: ['updatedAt'], where: () => sql.raw(`${final} and history_pruned_at is null`) },
  ];
}

const LIVESTREAMS = table(
  'livestreams',
  { ...stream, playbackUrl: 'text', ingestRtmpUrl: 'text', ingestStreamKey: 'text', ingestWhipUrl: 'text' },
  streamIndexes('livestreams', `status in ('STOPPED', 'FAILED')`),
);

const RECORDINGS = table('recordings', stream, streamIndexes('recordings', `status in ('COMPLETED', 'FAILED')`));

const RECORDING_ASSETS = table(
  'recording_assets',
  {
    id: 'id',
    recordingId: 'recording',
    externalId: 'text',
    type: 'text!',
    path: 'text',
    size: 'real',
    durationSeconds: 'real',
    url: 'text',
    urlExpiresAt: 'time',
    createdAt: 'time!',
  },
  [
    { name: 'recording_assets_recording', on: ['recordingId'] },
    { name: 'recording_assets_external', on: ['recordingId', 'externalId'], unique: true },
  ],
);

/** History of every update, applied or refused, with its source and raw payload; the applied ones are the change log. */
const STATUS_EVENTS = table(
  'status_events',
  {
    /** The event's position in the change log. */
    id: 'serial',
    streamKind: 'text!',
    streamId: 'text!',
    status: 'text!',
    vendorStatus: 'text',
    source: 'text!',
    version: 'int!',
    applied: 'bool!',
    eventId: 'text',
    payload: 'text',
    /** The stream as a subscriber sees it after this change (JSON, no secrets); applied rows only. */
    snapshot: 'text',
    at: 'time!',
  },
  // One index serves both the vendor-event de-duplication and a stream's history (its prefix):
  // every index here is one more page each commit writes.
  [{ name: 'status_events_event_id', on: ['streamKind', 'streamId', 'eventId'], unique: true }],
);

const waiting = (column: (field: string) => Column) => sql`${column('processedAt')} is null`;

/** The de-duplication log of vendor webhook deliveries. */
const WEBHOOK_DELIVERIES = table(
  'webhook_deliveries',
  {
    id: 'serial',
    provider: 'text!',
    deliveryId: 'text!',
    /**
     * What the vendor signed: the event's own id, else a hash of the signed body. A delivery id
     * outside the signature (RealtimeKit's and Dyte's uuid header) does not make a replay new.
     */
    contentKey: 'text',
    eventType: 'text',
    /** The raw body while the delivery waits for its stream; empty once applied or given up (dropped). */
    payload: 'text!',
    receivedAt: 'time!',
    /** Set once every event of the delivery found its stream; null while some wait for theirs. */
    processedAt: 'time',
    /** While pending: which stream it waits for (`<kind>:ext:<vendor id>` or `<kind>:room:<room>`). */
    correlationKey: 'text',
  },
  [
    { name: 'webhook_deliveries_provider_delivery', on: ['provider', 'deliveryId'], unique: true },
    // Only deliveries that have a content key (a vendor whose delivery id is outside what it
    // signed): unique keys never collide on null, so the constraint is the same, but a delivery
    // without one (100ms: the id is in the body) no longer adds an entry, a page of this index
    // in every group commit (bench/README.md, "SQLite intake, 2026-12-06, morning session").
    {
      name: 'webhook_deliveries_provider_content',
      on: ['provider', 'contentKey'],
      unique: true,
      where: (column) => sql`${column('contentKey')} is not null`,
    },
    // Only the deliveries still waiting for their stream (nearly none): a delivery applied at
    // once, as almost all are, adds nothing to it.
    { name: 'webhook_deliveries_pending', on: ['provider', 'receivedAt'], where: waiting },
    { name: 'webhook_deliveries_pending_key', on: ['provider', 'correlationKey'], where: waiting },
  ],
);

/** The session each room is in, as its vendor last said: automation acts on that session's events only. */
const ROOM_SESSIONS = table(
  'room_sessions',
  { provider: 'text!', roomId: 'text!', sessionId: 'text!', startedAt: 'time!' },
  [{ name: 'room_sessions_room', on: ['provider', 'roomId'], unique: true }],
);

/** Who is in a room right now (real peers only), so automation knows when the last one leaves. */
const ROOM_PEERS = table('room_peers', { provider: 'text!', roomId: 'text!', peerId: 'text!', joinedAt: 'time!' }, [
  { name: 'room_peers_peer', on: ['provider', 'roomId', 'peerId'], unique: true },
]);

const ROOM_AUTOMATIONS = table(
  'room_automations',
  {
    provider: 'text!',
    roomId: 'text!',
    recordOn: 'text!',
    stopWhenEmpty: 'bool!',
    /** The page a browser-composite recorder opens (100ms `meeting_url`), when the vendor needs one. */
    meetingUrl: 'text',
    updatedAt: 'time!',
  },
  [{ name: 'room_automations_room', on: ['provider', 'roomId'], unique: true }],
);

/**
 * How far retention pruned the change log (one row at most): `position` is the highest position
 * whose snapshot and payload were pruned, raised in the transaction that prunes. A cursor below
 * it is expired. Pruning is selective (old final streams only), and positions have gaps on
 * PostgreSQL (a rolled back insert keeps its sequence value), so the oldest row kept cannot tell.
 */
const CHANGE_LOG_PRUNED = table('change_log_pruned', { id: 'one', position: 'position!' });

/**
 * Subscriptions a router registered with Apollo's HTTP callback protocol: what to run and where to
 * send it, who asked (the verified caller, never a token), the change-log position of the last
 * change delivered (a new emitter resumes after it), and the lease of the one replica emitting it.
 */
const CALLBACK_SUBSCRIPTIONS = table(
  'callback_subscriptions',
  {
    id: 'id',
    callbackUrl: 'text!',
    verifier: 'text!',
    heartbeatIntervalMs: 'int!',
    /** JSON: { query, operationName, variables }. */
    operation: 'text!',
    /** JSON: { authenticated, subject, roles, expiresAt }. */
    caller: 'text!',
    position: 'position',
    leaseOwner: 'text',
    leaseUntil: 'time',
    createdAt: 'time!',
  },
  [{ name: 'callback_subscriptions_lease', on: ['leaseUntil'] }],
);

/** Every table, by the name each engine's schema exports it under. */
export const TABLES = {
  livestreams: LIVESTREAMS,
  recordings: RECORDINGS,
  recordingAssets: RECORDING_ASSETS,
  statusEvents: STATUS_EVENTS,
  webhookDeliveries: WEBHOOK_DELIVERIES,
  roomSessions: ROOM_SESSIONS,
  roomPeers: ROOM_PEERS,
  roomAutomations: ROOM_AUTOMATIONS,
  changeLogPruned: CHANGE_LOG_PRUNED,
  callbackSubscriptions: CALLBACK_SUBSCRIPTIONS,
};

/** An engine's column type for each kind (the `!` kinds are derived: `.notNull()`). */
export type ColumnBuilders = Record<BaseKind, (name: string) => unknown>;

type BuiltColumn<K extends ColumnBuilders, Kind> = Kind extends `${infer Base extends BaseKind}!`
  ? ReturnType<K[Base]> extends { notNull(): infer NotNull }
    ? NotNull
    : never
  : Kind extends BaseKind
    ? ReturnType<K[Kind]>
    : never;

export type BuiltColumns<K extends ColumnBuilders, C extends Columns> = {
  -readonly [F in keyof C]: BuiltColumn<K, C[F]>;
};

/** A table's columns, each built by the engine's builder for its kind, named after its field. */
export function buildColumns<K extends ColumnBuilders, C extends Columns>(kinds: K, columns: C): BuiltColumns<K, C> {
  const built = Object.entries(columns).map(([field, kind]) => {
    const notNull = kind.endsWith('!');
    const column = kinds[(notNull ? kind.slice(0, -1) : kind) as BaseKind](columnName(field));
    return [field, notNull ? (column as { notNull(): unknown }).notNull() : column];
  });
  return Object.fromEntries(built) as BuiltColumns<K, C>;
}

/**
 * A table's indexes (drizzle's extra config): `start` gives the engine's (unique) index builder
 * for a spec, given its columns here.
 */
export function buildIndexes<Col, B extends { where(condition: SQL): B }>(
  specs: readonly IndexSpec[],
  start: (spec: IndexSpec) => { on(...columns: [Col, ...Col[]]): B },
): (t: Record<string, Col>) => B[] {
  return (t) =>
    specs.map((spec) => {
      const [first, ...rest] = spec.on.map((field) => t[field] as Col);
      const built = start(spec).on(first as Col, ...rest);
      return spec.where ? built.where(spec.where((field) => t[field] as unknown as Column)) : built;
    });
}
