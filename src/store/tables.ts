import { sql } from 'drizzle-orm';
import { index, integer, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

/**
 * Table definitions. Column types stay portable (text, integer, real): a PostgreSQL store will
 * mirror them. Times are epoch milliseconds.
 */

const timestamps = {
  startedAt: integer('started_at', { mode: 'timestamp_ms' }),
  stoppedAt: integer('stopped_at', { mode: 'timestamp_ms' }),
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
};

const streamColumns = {
  id: text('id').primaryKey(),
  provider: text('provider').notNull(),
  roomId: text('room_id').notNull(),
  externalId: text('external_id'),
  sessionId: text('session_id'),
  status: text('status').notNull(),
  vendorStatus: text('vendor_status'),
  version: integer('version').notNull(),
  failureReason: text('failure_reason'),
  idempotencyKey: text('idempotency_key'),
  /** A hash of the start input the key was first used with: the same key with other input is a conflict. */
  idempotencyInput: text('idempotency_input'),
  // Polling: when the stream is next due, its current (backed-off) interval, and the lease that
  // lets exactly one poller (of possibly several replicas) read it at a time.
  nextPollAt: integer('next_poll_at', { mode: 'timestamp_ms' }),
  pollIntervalMs: integer('poll_interval_ms'),
  pollLeaseOwner: text('poll_lease_owner'),
  pollLeaseUntil: integer('poll_lease_until', { mode: 'timestamp_ms' }),
  // The change-log position (status_events.id) of the latest applied change: the row's changeCursor.
  changePosition: integer('change_position').notNull().default(0),
  // When retention pruned the history payloads of this (final) stream; null until then.
  historyPrunedAt: integer('history_pruned_at', { mode: 'timestamp_ms' }),
  ...timestamps,
};

export const livestreams = sqliteTable(
  'livestreams',
  {
    ...streamColumns,
    playbackUrl: text('playback_url'),
    ingestRtmpUrl: text('ingest_rtmp_url'),
    ingestStreamKey: text('ingest_stream_key'),
    ingestWhipUrl: text('ingest_whip_url'),
  },
  (t) => [
    // At most one active livestream per provider and room, enforced by the database itself.
    uniqueIndex('livestreams_one_active_per_room')
      .on(t.provider, t.roomId)
      .where(sql`status in ('STARTING', 'LIVE', 'STOPPING')`),
    uniqueIndex('livestreams_idempotency_key').on(t.idempotencyKey),
    index('livestreams_external_id').on(t.provider, t.externalId),
    index('livestreams_room').on(t.provider, t.roomId, t.createdAt),
    index('livestreams_created').on(t.createdAt, t.id),
    index('livestreams_status').on(t.status),
    index('livestreams_next_poll').on(t.nextPollAt),
    // Final streams whose history retention has not pruned yet, oldest change first: holds about
    // RETENTION_DAYS of streams, and a stream enters it once (when it becomes final).
    index('livestreams_prunable')
      .on(t.updatedAt)
      .where(sql`status in ('STOPPED', 'FAILED') and history_pruned_at is null`),
  ],
);

export const recordings = sqliteTable('recordings', streamColumns, (t) => [
  uniqueIndex('recordings_one_active_per_room')
    .on(t.provider, t.roomId)
    .where(sql`status in ('STARTING', 'RECORDING', 'PAUSED', 'STOPPING')`),
  uniqueIndex('recordings_idempotency_key').on(t.idempotencyKey),
  index('recordings_external_id').on(t.provider, t.externalId),
  index('recordings_room').on(t.provider, t.roomId, t.createdAt),
  index('recordings_created').on(t.createdAt, t.id),
  index('recordings_status').on(t.status),
  index('recordings_next_poll').on(t.nextPollAt),
  index('recordings_prunable')
    .on(t.updatedAt)
    .where(sql`status in ('COMPLETED', 'FAILED') and history_pruned_at is null`),
]);

export const recordingAssets = sqliteTable(
  'recording_assets',
  {
    id: text('id').primaryKey(),
    recordingId: text('recording_id')
      .notNull()
      .references(() => recordings.id, { onDelete: 'cascade' }),
    externalId: text('external_id'),
    type: text('type').notNull(),
    path: text('path'),
    size: real('size'),
    durationSeconds: real('duration_seconds'),
    url: text('url'),
    urlExpiresAt: integer('url_expires_at', { mode: 'timestamp_ms' }),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [
    index('recording_assets_recording').on(t.recordingId),
    uniqueIndex('recording_assets_external').on(t.recordingId, t.externalId),
  ],
);

/**
 * History of every update, applied or refused, with its source and raw payload. It is also the
 * change log: `id` is an applied change's position (in commit order: SQLite has one writer), and
 * `snapshot` the stream's state after it (ingest stream key left out), replayed to a subscriber
 * that resumes `after` a position.
 */
export const statusEvents = sqliteTable(
  'status_events',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    streamKind: text('stream_kind').notNull(),
    streamId: text('stream_id').notNull(),
    status: text('status').notNull(),
    vendorStatus: text('vendor_status'),
    source: text('source').notNull(),
    version: integer('version').notNull(),
    applied: integer('applied', { mode: 'boolean' }).notNull(),
    eventId: text('event_id'),
    payload: text('payload'),
    snapshot: text('snapshot'),
    at: integer('at', { mode: 'timestamp_ms' }).notNull(),
  },
  // One index serves both the vendor-event de-duplication and a stream's history (its prefix):
  // every index here is one more page each commit writes.
  (t) => [uniqueIndex('status_events_event_id').on(t.streamKind, t.streamId, t.eventId)],
);

/** The de-duplication log of vendor webhook deliveries. */
export const webhookDeliveries = sqliteTable(
  'webhook_deliveries',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    provider: text('provider').notNull(),
    deliveryId: text('delivery_id').notNull(),
    /**
     * What the vendor signed: the event's own id, else a hash of the signed body. A delivery id
     * outside the signature (RealtimeKit's and Dyte's uuid header) does not make a replay new.
     */
    contentKey: text('content_key'),
    eventType: text('event_type'),
    /** The raw body while the delivery waits for its stream; empty once applied or given up (dropped). */
    payload: text('payload').notNull(),
    receivedAt: integer('received_at', { mode: 'timestamp_ms' }).notNull(),
    /** Set once every event of the delivery found its stream; null while some wait for theirs. */
    processedAt: integer('processed_at', { mode: 'timestamp_ms' }),
    /** While pending: which stream it waits for (`<kind>:ext:<vendor id>` or `<kind>:room:<room>`). */
    correlationKey: text('correlation_key'),
  },
  (t) => [
    uniqueIndex('webhook_deliveries_provider_delivery').on(t.provider, t.deliveryId),
    uniqueIndex('webhook_deliveries_provider_content').on(t.provider, t.contentKey),
    // Only the deliveries still waiting for their stream (nearly none): a delivery applied at
    // once, as almost all are, adds nothing to it.
    index('webhook_deliveries_pending').on(t.provider, t.receivedAt).where(sql`${t.processedAt} is null`),
    index('webhook_deliveries_pending_key').on(t.provider, t.correlationKey).where(sql`${t.processedAt} is null`),
  ],
);

/** The session each room is in, as its vendor last said: automation acts on that session's events only. */
export const roomSessions = sqliteTable(
  'room_sessions',
  {
    provider: text('provider').notNull(),
    roomId: text('room_id').notNull(),
    sessionId: text('session_id').notNull(),
    startedAt: integer('started_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [uniqueIndex('room_sessions_room').on(t.provider, t.roomId)],
);

/** Who is in a room right now (real peers only), so automation knows when the last one leaves. */
export const roomPeers = sqliteTable(
  'room_peers',
  {
    provider: text('provider').notNull(),
    roomId: text('room_id').notNull(),
    peerId: text('peer_id').notNull(),
    joinedAt: integer('joined_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [uniqueIndex('room_peers_peer').on(t.provider, t.roomId, t.peerId)],
);

export const roomAutomations = sqliteTable(
  'room_automations',
  {
    provider: text('provider').notNull(),
    roomId: text('room_id').notNull(),
    recordOn: text('record_on').notNull(),
    stopWhenEmpty: integer('stop_when_empty', { mode: 'boolean' }).notNull(),
    /** The page a browser-composite recorder opens (100ms `meeting_url`), when the vendor needs one. */
    meetingUrl: text('meeting_url'),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [uniqueIndex('room_automations_room').on(t.provider, t.roomId)],
);

/**
 * How far retention pruned the change log (one row at most, as on PostgreSQL): `position` is the
 * highest position whose snapshot and payload were pruned, raised in the transaction that prunes.
 * A cursor below it is expired. Pruning is selective (old final streams only), so the oldest row
 * kept cannot tell.
 */
export const changeLogPruned = sqliteTable('change_log_pruned', {
  id: integer('id').primaryKey().default(1),
  position: integer('position').notNull(),
});

/**
 * Subscriptions a router registered with Apollo's HTTP callback protocol: what to run and where to
 * send it, who asked (the verified caller, never a token), the change-log position of the last
 * change delivered (a new emitter resumes after it), and the lease of the one replica emitting it.
 */
export const callbackSubscriptions = sqliteTable(
  'callback_subscriptions',
  {
    id: text('id').primaryKey(),
    callbackUrl: text('callback_url').notNull(),
    verifier: text('verifier').notNull(),
    heartbeatIntervalMs: integer('heartbeat_interval_ms').notNull(),
    /** JSON: { query, operationName, variables }. */
    operation: text('operation').notNull(),
    /** JSON: { authenticated, subject, roles, expiresAt }. */
    caller: text('caller').notNull(),
    position: integer('position'),
    leaseOwner: text('lease_owner'),
    leaseUntil: integer('lease_until', { mode: 'timestamp_ms' }),
    createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [index('callback_subscriptions_lease').on(t.leaseUntil)],
);
