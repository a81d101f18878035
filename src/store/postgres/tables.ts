import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  doublePrecision,
  index,
  integer,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

/**
 * The PostgreSQL tables: the same tables, columns and indexes as the SQLite ones
 * (`src/store/tables.ts`), so one row mapper serves both engines. Times are `timestamptz` read
 * as `Date`, as SQLite's epoch-millisecond columns are.
 *
 * Change log (see the change-log design): `status_events.id` is an event's POSITION, taken under
 * an advisory lock just before the insert so that positions become visible in commit order;
 * an applied event keeps the stream's state after it in `snapshot`; each stream row keeps the
 * position of its latest applied change in `change_position`.
 */

const at = (name: string) => timestamp(name, { mode: 'date', withTimezone: true });

const timestamps = {
  startedAt: at('started_at'),
  stoppedAt: at('stopped_at'),
  createdAt: at('created_at').notNull(),
  updatedAt: at('updated_at').notNull(),
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
  nextPollAt: at('next_poll_at'),
  pollIntervalMs: integer('poll_interval_ms'),
  pollLeaseOwner: text('poll_lease_owner'),
  pollLeaseUntil: at('poll_lease_until'),
  /** Position of the stream's latest applied change in `status_events`. */
  changePosition: bigint('change_position', { mode: 'number' }).notNull().default(0),
  /** When retention pruned the stream's history payloads (null: not yet). */
  historyPrunedAt: at('history_pruned_at'),
  ...timestamps,
};

export const livestreams = pgTable(
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
    // Final streams whose history retention has not pruned yet, oldest change first.
    index('livestreams_prunable')
      .on(t.updatedAt)
      .where(sql`status in ('STOPPED', 'FAILED') and history_pruned_at is null`),
  ],
);

export const recordings = pgTable('recordings', streamColumns, (t) => [
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

export const recordingAssets = pgTable(
  'recording_assets',
  {
    id: text('id').primaryKey(),
    recordingId: text('recording_id')
      .notNull()
      .references(() => recordings.id, { onDelete: 'cascade' }),
    externalId: text('external_id'),
    type: text('type').notNull(),
    path: text('path'),
    size: doublePrecision('size'),
    durationSeconds: doublePrecision('duration_seconds'),
    url: text('url'),
    urlExpiresAt: at('url_expires_at'),
    createdAt: at('created_at').notNull(),
  },
  (t) => [
    index('recording_assets_recording').on(t.recordingId),
    uniqueIndex('recording_assets_external').on(t.recordingId, t.externalId),
  ],
);

/** History of every update, applied or refused; the applied ones are the change log. */
export const statusEvents = pgTable(
  'status_events',
  {
    /** The event's position in the change log. */
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    streamKind: text('stream_kind').notNull(),
    streamId: text('stream_id').notNull(),
    status: text('status').notNull(),
    vendorStatus: text('vendor_status'),
    source: text('source').notNull(),
    version: integer('version').notNull(),
    applied: boolean('applied').notNull(),
    eventId: text('event_id'),
    payload: text('payload'),
    /** The stream as a subscriber sees it after this change (JSON, no secrets); applied rows only. */
    snapshot: text('snapshot'),
    at: at('at').notNull(),
  },
  (t) => [uniqueIndex('status_events_event_id').on(t.streamKind, t.streamId, t.eventId)],
);

/** The de-duplication log of vendor webhook deliveries. */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    provider: text('provider').notNull(),
    deliveryId: text('delivery_id').notNull(),
    /** What the vendor signed (its event id, else a hash of the signed body): a replay is a duplicate. */
    contentKey: text('content_key'),
    eventType: text('event_type'),
    payload: text('payload').notNull(),
    receivedAt: at('received_at').notNull(),
    /** Set once every event of the delivery found its stream; null while some wait for theirs. */
    processedAt: at('processed_at'),
    /** While pending: which stream it waits for (`<kind>:ext:<vendor id>` or `<kind>:room:<room>`). */
    correlationKey: text('correlation_key'),
  },
  (t) => [
    uniqueIndex('webhook_deliveries_provider_delivery').on(t.provider, t.deliveryId),
    uniqueIndex('webhook_deliveries_provider_content').on(t.provider, t.contentKey),
    index('webhook_deliveries_pending').on(t.provider, t.receivedAt).where(sql`${t.processedAt} is null`),
    index('webhook_deliveries_pending_key').on(t.provider, t.correlationKey).where(sql`${t.processedAt} is null`),
  ],
);

/**
 * How far the change log was pruned (one row at most): `position` is the highest one removed, a
 * cursor below it is expired (retention raises it in the transaction that deletes).
 * Positions have gaps on PostgreSQL (a rolled back insert keeps its sequence value), so the oldest
 * row kept cannot tell, as it does on SQLite, whether anything before it was removed.
 */
export const changeLogPruned = pgTable('change_log_pruned', {
  id: integer('id').primaryKey().default(1),
  position: bigint('position', { mode: 'number' }).notNull(),
});

/** The session each room is in, as its vendor last said: automation acts on that session's events only. */
export const roomSessions = pgTable(
  'room_sessions',
  {
    provider: text('provider').notNull(),
    roomId: text('room_id').notNull(),
    sessionId: text('session_id').notNull(),
    startedAt: at('started_at').notNull(),
  },
  (t) => [uniqueIndex('room_sessions_room').on(t.provider, t.roomId)],
);

/** Who is in a room right now (real peers only), so automation knows when the last one leaves. */
export const roomPeers = pgTable(
  'room_peers',
  {
    provider: text('provider').notNull(),
    roomId: text('room_id').notNull(),
    peerId: text('peer_id').notNull(),
    joinedAt: at('joined_at').notNull(),
  },
  (t) => [uniqueIndex('room_peers_peer').on(t.provider, t.roomId, t.peerId)],
);

export const roomAutomations = pgTable(
  'room_automations',
  {
    provider: text('provider').notNull(),
    roomId: text('room_id').notNull(),
    recordOn: text('record_on').notNull(),
    stopWhenEmpty: boolean('stop_when_empty').notNull(),
    meetingUrl: text('meeting_url'),
    updatedAt: at('updated_at').notNull(),
  },
  (t) => [uniqueIndex('room_automations_room').on(t.provider, t.roomId)],
);

/** Subscriptions a router registered with Apollo's HTTP callback protocol, and their leases (as tables.ts). */
export const callbackSubscriptions = pgTable(
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
    position: bigint('position', { mode: 'number' }),
    leaseOwner: text('lease_owner'),
    leaseUntil: at('lease_until'),
    createdAt: at('created_at').notNull(),
  },
  (t) => [index('callback_subscriptions_lease').on(t.leaseUntil)],
);
