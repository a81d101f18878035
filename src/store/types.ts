import type { ProviderId, StreamKind } from '../domain/status.js';
import type {
  AssetInput,
  LivestreamRecord,
  RecordingAssetRecord,
  RecordOf,
  RoomAutomationRecord,
  StatusEventRecord,
  StreamRecord,
} from '../domain/types.js';
import type { ChangeLogStore, LocalCommit } from './change-log.js';
import type { RecordedFinding, StreamLookup } from './finding.js';

export type { ChangeFilter, ChangeLogStore, LocalCommit, LoggedChange, TailedChange } from './change-log.js';

/** A store's answer, plain when SQLite has one at hand (bench/README.md, "SQLite intake, 2026-12-05 evening session"). */
export type PromiseOr<T> = T | Promise<T>;
type Found<K extends StreamKind> = PromiseOr<RecordOf<K> | undefined>;
/**
 * What the service asks of a database, engine aside (`sqlite/store.ts`, `postgres/store.ts`).
 *
 * One section per concern (streams, history, assets, deliveries, polls, rooms) and one unit of
 * work, `transaction`. Every answer is a promise (or may be, `PromiseOr`), so an asynchronous engine
 * (PostgreSQL through node-postgres) implements the same interface as the synchronous SQLite one.
 * A transaction is asynchronous: the engine keeps the calling async flow's statements in it until
 * `fn` settles (SQLite: the one connection is held, other flows wait; PostgreSQL: a pooled client
 * is checked out), and a `transaction` called from inside it is a savepoint. A database that cannot
 * be reached answers StoreUnavailableError (PostgreSQL, `postgres/store.ts`). Nested calls of one
 * flow are awaited one after another, never run concurrently.
 */
export interface Store {
  readonly streams: StreamStore;
  readonly history: HistoryStore;
  readonly assets: AssetStore;
  readonly deliveries: DeliveryStore;
  readonly polls: PollStore;
  readonly rooms: RoomStore;
  readonly changes: ChangeLogStore;
  readonly retention: RetentionStore;
  readonly callbacks: CallbackStore;

  /**
   * Runs `fn` in one write transaction, committing only if it returns. Called inside another, it
   * is a savepoint of that one (it may roll back alone; in a `groupTransaction` it fails it):
   * nothing is durable until the outermost commits, and `afterCommit` waits for that.
   */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * `fn` in a transaction shared with the other writes asked for at about the same time, settling
   * once it has committed: one durable commit for many concurrent writers (webhook deliveries).
   * When one fails, they run again, it alone (rejected only if it fails alone): `fn` may run more
   * than once, keeping nothing of a run but `afterCommit`s. It holds the transaction: no vendor calls.
   */
  groupTransaction<T>(fn: () => Promise<T>): Promise<T>;
  /** Runs `fn` once the current transaction has committed (at once outside one); dropped on rollback. */
  afterCommit(fn: () => void): void;
  /** True when `error` is the engine's unique-constraint violation (a concurrent writer won a race). */
  isUniqueViolation(error: unknown): boolean;

  /** Listen to every statement the store runs (how tests count queries); answers the unsubscribe. */
  onStatement(listener: (sql: string) => void): () => void;
  /**
   * Listen to this process's group commits that wrote change-log positions, each told before its
   * changes are published (`afterCommit`); answers the unsubscribe. Absent where the engine does
   * not tell them (SQLite): the change-log tailer then reads every change back from the log.
   */
  onLocalCommit?(listener: (commit: LocalCommit) => void): () => void;
  /** The database answers and its schema is up to date (readiness). */
  isReady(): Promise<boolean>;
  close(): Promise<void>;
}

export interface StreamFilter {
  provider?: ProviderId | null;
  roomId?: string | null;
  status?: string | null;
}

export interface PageRequest extends StreamFilter {
  first: number;
  after?: { createdAt: number; id: string } | null;
}

/** A stream's place in the poll schedule: due at `nextPollAt`, backed off to `pollIntervalMs`. */
export interface PollSlot {
  nextPollAt: Date | null;
  pollIntervalMs: number | null;
}

/** A new stream row: every record field (a livestream's own ones may be left out) and its poll slot. */
export type NewStream = Omit<StreamRecord, 'status' | 'changePosition'> & {
  status: string;
  /** A hash of the start input, beside its idempotency key. */
  idempotencyInput?: string | null;
  changePosition?: number;
  nextPollAt?: Date | null;
  pollIntervalMs?: number | null;
} & Partial<Pick<LivestreamRecord, 'playbackUrl' | 'ingestRtmpUrl' | 'ingestStreamKey' | 'ingestWhipUrl'>>;

export type StreamPatch = Partial<
  Omit<LivestreamRecord, 'id' | 'provider' | 'createdAt' | 'idempotencyKey' | 'status'> & {
    status: string;
  }
>;

/** A patch plus the stream's poll slot, written in the same statement. */
export type StreamWrite = StreamPatch & Partial<PollSlot>;

export interface StreamStore {
  get<K extends StreamKind>(kind: K, id: string): Found<K>;
  getMany<K extends StreamKind>(kind: K, ids: readonly string[]): Promise<RecordOf<K>[]>;
  findByExternalId<K extends StreamKind>(kind: K, provider: ProviderId, externalId: string): Found<K>;
  /** The room's stream during which a second start is a conflict (STARTING to STOPPING). */
  findActive<K extends StreamKind>(kind: K, provider: ProviderId, roomId: string): Promise<RecordOf<K> | undefined>;
  findByIdempotencyKey<K extends StreamKind>(kind: K, key: string): Promise<RecordOf<K> | undefined>;
  /** The hash of the start input stored with a stream's idempotency key (null when none was). */
  idempotencyInput(kind: StreamKind, id: string): Promise<string | null>;
  /** The newest stream of a room that is not final (an UPLOADING recording included). */
  findOpenInRoom<K extends StreamKind>(kind: K, provider: ProviderId, roomId: string): Found<K>;
  /**
   * Every stream of `kind` that is not final (STARTING to STOPPING), newest first, filtered: shared
   * records (never modify them), a plain answer when one is at hand (SQLite, its connection free).
   */
  listActive<K extends StreamKind>(kind: K, filter: StreamFilter): PromiseOr<readonly RecordOf<K>[]>;
  /** Newest first, keyset-paginated on (createdAt, id). Returns one extra row to tell if more follow. */
  page<K extends StreamKind>(kind: K, request: PageRequest): Promise<RecordOf<K>[]>;
  /** Every stream of the given rooms, newest first (one query for a batch of rooms). */
  listByRooms<K extends StreamKind>(kind: K, roomIds: readonly string[]): Promise<RecordOf<K>[]>;
  insert(kind: StreamKind, row: NewStream): Promise<void>;
  /** Writes the fields `patch` gives (undefined ones are left alone); a livestream's own fields are skipped for a recording. */
  update(kind: StreamKind, id: string, patch: StreamWrite): Promise<void>;
}

/**
 * A history event as written (its id, the log position, is the store's to give). An applied one
 * carries `snapshot`, the stream's state after it, which the change log replays.
 */
export type NewStatusEvent = Omit<StatusEventRecord, 'id'> & { snapshot?: StreamRecord };

/** Every report about a stream, applied or refused, in the order it was written. */
export interface HistoryStore {
  /**
   * Writes the event and answers its position in the change log. Positions of applied events
   * follow commit order (a reader that sees one sees every smaller one); they may have gaps.
   */
  append(event: NewStatusEvent): PromiseOr<number>;
  /** Appends an applied event, then updates its stream with `patch` and its position as `changePosition`. */
  appendChange(event: NewStatusEvent, patch: StreamWrite): PromiseOr<number>;
  /** True when the vendor's event id was already recorded for this stream. */
  has(kind: StreamKind, streamId: string, eventId: string): PromiseOr<boolean>;
  /** The latest `last` events of each of several streams in one query, oldest first per stream. */
  listFor(kind: StreamKind, streamIds: readonly string[], last: number): Promise<StatusEventRecord[]>;
}

export interface AssetStore {
  /**
   * Adds assets, replacing one with the same vendor id; an asset known by its path alone and the
   * same file listed later with its vendor id are one asset.
   */
  upsert(recordingId: string, assets: readonly AssetInput[], now: Date): Promise<void>;
  /** Stores a renewed download URL of one asset. */
  updateUrl(id: string, url: string, urlExpiresAt: Date | null): Promise<void>;
  listFor(recordingIds: readonly string[]): Promise<RecordingAssetRecord[]>;
}

export interface NewDelivery {
  provider: ProviderId;
  deliveryId: string;
  /** What the vendor signed (its event id, else a hash of the body): a replay under a new delivery id is a duplicate. */
  contentKey: string | null;
  eventType: string | null;
  receivedAt: Date;
  /**
   * Recorded as done at once (most deliveries are, once applied in the same transaction). No
   * body is kept: a delivery that turns out to wait for its stream gets its raw body through
   * `markPending`, and loses it again once applied (`markProcessed`) or given up.
   */
  processedAt: Date;
}

export interface DeliveryRecord {
  id: number;
  provider: string;
  deliveryId: string;
  eventType: string | null;
  /** The raw body while the delivery waits for its stream; empty once it no longer does. */
  payload: string;
  receivedAt: Date;
  processedAt: Date | null;
}

/** Webhook deliveries, unique per provider and delivery id, and per provider and signed content. */
export interface DeliveryStore {
  /** Records a delivery; `inserted` false when its provider + delivery id, or its signed content, was before. */
  record(delivery: NewDelivery): PromiseOr<{ inserted: boolean; id: number }>;
  recordFinding<K extends StreamKind>(delivery: NewDelivery, find: StreamLookup<K>): PromiseOr<RecordedFinding<K>>;
  /** Marks a delivery as done and drops its body (the ids stay, for de-duplication). */
  markProcessed(id: number, at: Date): Promise<void>;
  /**
   * Marks a delivery as waiting for its stream: its raw body (needed to apply it later) and the
   * key of the stream it waits for (`correlationKey`, see `pendingFor`).
   */
  markPending(id: number, payload: string, correlationKey: string | null): Promise<void>;
  /** Deliveries some of whose events have not found their stream yet, oldest first. */
  pending(provider: ProviderId | null, receivedAfter: Date, limit: number): Promise<DeliveryRecord[]>;
  /** The waiting deliveries of `provider` whose correlation key is one of `keys`, oldest first. */
  pendingFor(
    provider: ProviderId,
    keys: readonly string[],
    receivedAfter: Date,
    limit: number,
  ): Promise<DeliveryRecord[]>;
  /**
   * Gives up on waiting deliveries of `provider`: every one received before `receivedBefore`,
   * and the oldest beyond the newest `keep` (by time received, then by id). Their bodies are
   * dropped (ids stay, for de-duplication). Answers how many.
   */
  expirePending(provider: ProviderId, receivedBefore: Date, keep: number, at: Date): Promise<number>;
  /** How many deliveries per provider wait for their stream (received after `receivedAfter`). */
  pendingCounts(receivedAfter: Date): Promise<Map<ProviderId, number>>;
  count(provider: ProviderId): Promise<number>;
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

/**
 * The poll schedule and its leases: each stream that is not final carries its own schedule
 * (next_poll_at, poll_interval_ms) and a lease (poll_lease_owner, poll_lease_until).
 */
export interface PollStore {
  /** Claims up to `limit` streams that are due and not leased (or whose lease expired). */
  claimDue(kind: StreamKind, claim: PollClaimRequest): Promise<PollClaim[]>;
  /**
   * Writes the schedule after a poll and releases the lease, only while `owner` still holds it.
   * A stream that became final meanwhile drops out of the schedule. False when the lease was lost.
   */
  finish(kind: StreamKind, id: string, owner: string, next: { at: Date; intervalMs: number }): Promise<boolean>;
  /** At boot: every stream that is not final is due now with the base interval. Answers how many. */
  resume(kind: StreamKind, now: Date, intervalMs: number): Promise<number>;
  /** When the earliest stream not leased by anyone becomes due; null when none is scheduled. */
  nextDue(kind: StreamKind, now: Date): Promise<Date | null>;
  /** Gives up every lease `owner` holds (graceful stop), leaving the schedule as it is. */
  releaseLeases(owner: string): Promise<number>;
}

/** Room presence (real peers) and per-room recording rules. */
export interface RoomStore {
  addPeer(provider: ProviderId, roomId: string, peerId: string, at: Date): Promise<void>;
  removePeer(provider: ProviderId, roomId: string, peerId: string): Promise<void>;
  clearPeers(provider: ProviderId, roomId: string): Promise<void>;
  countPeers(provider: ProviderId, roomId: string): Promise<number>;
  upsertAutomation(rule: RoomAutomationRecord): Promise<void>;
  getAutomation(provider: ProviderId, roomId: string): Promise<RoomAutomationRecord | undefined>;
  automationsFor(roomIds: readonly string[]): Promise<RoomAutomationRecord[]>;
  /** The room's session is now `sessionId`, started at `at` (a vendor said so). */
  trackSession(provider: ProviderId, roomId: string, sessionId: string, at: Date): Promise<void>;
  /** The session the room was last said to be in, and when it started; null when none was. */
  currentSession(provider: ProviderId, roomId: string): Promise<{ sessionId: string; startedAt: Date } | null>;
}

/** Which streams and deliveries retention prunes in one batch. */
export interface PruneRequest {
  /** Streams final (last changed) before this lose their history payloads and snapshots. */
  before: Date;
  /** At most this many history rows (or deliveries) in the batch. */
  limit: number;
  /** When the batch runs (recorded on each stream it finishes). */
  now: Date;
}

/** One batch's work: how many rows it pruned, and whether nothing is left to prune for now. */
export interface PruneBatch {
  pruned: number;
  done: boolean;
}

/**
 * Retention: what is kept of streams long final and of old webhook deliveries. Each call is one batch in its
 * own short transaction (the caller loops), so pruning never holds the database for long. Statuses stay.
 */
export interface RetentionStore {
  /**
   * Prunes the history of streams of `kind` final before `request.before`, oldest first: their
   * events keep status, source, time and version, lose payload and snapshot. In the same
   * transaction, raises the watermark to the highest change-log (applied) position pruned.
   */
  pruneHistory(kind: StreamKind, request: PruneRequest): Promise<PruneBatch>;
  /**
   * Deletes webhook deliveries done and received before `request.before`, oldest first (ids,
   * keys and all: a vendor's retries come within hours, never months later). Waiting ones stay
   * (they expire by WEBHOOK_PENDING_MAX_AGE_MS).
   */
  pruneDeliveries(request: PruneRequest): Promise<PruneBatch>;
  /** The highest change-log position retention pruned (0 when none). */
  watermark(): Promise<number>;
  /** Readies background pruning ahead of its first batch (SQLite: starts its checkpoint thread). */
  prepare?(): Promise<void>;
}

/** Who registered a callback subscription, as authentication found them (never their token). */
export interface RegisteredCaller {
  authenticated: boolean;
  subject: string | null;
  roles: string[];
  /** When the caller's token stops being valid (epoch ms): the subscription ends then. */
  expiresAt: number | null;
}

/** A subscription a router registered with the HTTP callback protocol (`callback/1.0`). */
export interface CallbackRegistration {
  /** The router's `subscriptionId`. */
  id: string;
  callbackUrl: string;
  verifier: string;
  /** 0: no heartbeats. */
  heartbeatIntervalMs: number;
  query: string;
  operationName: string | null;
  variables: Record<string, unknown> | null;
  caller: RegisteredCaller;
  /** Change-log position of the last change delivered; an emitter taking over resumes after it. */
  position: number | null;
  createdAt: Date;
}

/**
 * Callback subscriptions and their leases: each registration is emitted by the one replica that
 * holds its lease (`owner` until `leaseUntil`); another takes it over once the lease expires. An
 * engine implements it as one table (`callback_subscriptions`, see tables.ts) and plain
 * statements: claim is UPDATE … WHERE lease free … RETURNING, as for polls.
 */
export interface CallbackStore {
  /** Records a registration, held by `owner` until `leaseUntil`. False when its id is taken. */
  add(registration: CallbackRegistration, owner: string, leaseUntil: Date): Promise<boolean>;
  /** Takes up to `limit` registrations whose lease is free or expired at `now`, for `owner`. */
  claim(owner: string, now: Date, leaseUntil: Date, limit: number): Promise<CallbackRegistration[]>;
  /**
   * Extends every lease `owner` still holds at `now`, first recording the positions delivered
   * since the last call (only for registrations it holds). Answers the ids it holds: a
   * registration missing from them was lost (taken over or removed) and must stop emitting here.
   */
  renew(owner: string, now: Date, leaseUntil: Date, positions: ReadonlyMap<string, number>): Promise<Set<string>>;
  /** Drops a registration (it ended: completed, refused by the router, or its caller expired). */
  remove(id: string): Promise<void>;
  /** Gives up the leases of `owner` (graceful stop), recording its last positions first. */
  release(owner: string, positions: ReadonlyMap<string, number>): Promise<number>;
  count(): Promise<number>;
}
