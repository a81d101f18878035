import type { ProviderId, StreamKind } from '../domain/status.js';
import type { LivestreamRecord, RecordingRecord, RecordOf, StreamRecord } from '../domain/types.js';

/**
 * A stream as an array of its values (times in epoch milliseconds): how SQLite's stream reads
 * answer, and how the change log of either engine keeps a snapshot (`status_events.snapshot`).
 */
const COMMON_COLUMNS =
  'id, provider, room_id, external_id, session_id, status, vendor_status, version, failure_reason, ' +
  'idempotency_key, started_at, stopped_at, created_at, updated_at, change_position';
/** The columns a record holds, in `fromRow`'s order, as both engines' tables name them. */
export const RECORD_COLUMNS: Record<StreamKind, string> = {
  livestream: `${COMMON_COLUMNS}, playback_url, ingest_rtmp_url, ingest_stream_key, ingest_whip_url`,
  recording: COMMON_COLUMNS,
};

/**
 * The record field each element of a stream row holds (fromRow's mapping, RECORD_COLUMNS' order);
 * the four times are epoch milliseconds in the row, Dates in the record.
 */
export const ROW_FIELDS = [
  'id',
  'provider',
  'roomId',
  'externalId',
  'sessionId',
  'status',
  'vendorStatus',
  'version',
  'failureReason',
  'idempotencyKey',
  'startedAt',
  'stoppedAt',
  'createdAt',
  'updatedAt',
  'changePosition',
  'playbackUrl',
  'ingestRtmpUrl',
  'ingestStreamKey',
  'ingestWhipUrl',
] as const;
export const ROW_TIMES: ReadonlySet<string> = new Set(['startedAt', 'stoppedAt', 'createdAt', 'updatedAt']);

/**
 * A stream row: RECORD_COLUMNS in order, as a raw statement or `json_array` gives them (times in
 * epoch milliseconds).
 */
export type StreamRow = [
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
  changePosition: number,
  playbackUrl?: string | null,
  ingestRtmpUrl?: string | null,
  ingestStreamKey?: string | null,
  ingestWhipUrl?: string | null,
];

/**
 * The one mapping of a stream row to its record. Every stream read selects RECORD_COLUMNS as
 * arrays (plain SQL, mapped by hand: drizzle's generic row mapping cost more than SQLite's own
 * work on the hot paths).
 */
export function fromRow<K extends StreamKind>(kind: K, row: StreamRow): RecordOf<K> {
  const startedAt = row[10];
  const stoppedAt = row[11];
  const record: Omit<RecordingRecord, 'status'> &
    Partial<Omit<LivestreamRecord, keyof RecordingRecord>> & { status: string } = {
    id: row[0],
    provider: row[1] as ProviderId,
    roomId: row[2],
    externalId: row[3],
    sessionId: row[4],
    status: row[5],
    vendorStatus: row[6],
    version: row[7],
    failureReason: row[8],
    idempotencyKey: row[9],
    startedAt: startedAt === null ? null : new Date(startedAt),
    stoppedAt: stoppedAt === null ? null : new Date(stoppedAt),
    createdAt: new Date(row[12]),
    updatedAt: new Date(row[13]),
    changePosition: row[14],
  };
  // Set in place rather than spread into a copy: every livestream takes the same four steps, so
  // all share one shape (a spread's copy cost a replay more, bench/README.md, "Catch-up",
  // 2026-12-05 session).
  if (kind === 'livestream') {
    record.playbackUrl = row[15] ?? null;
    record.ingestRtmpUrl = row[16] ?? null;
    record.ingestStreamKey = row[17] ?? null;
    record.ingestWhipUrl = row[18] ?? null;
  }
  return record as unknown as RecordOf<K>;
}

export function fromRows<K extends StreamKind>(kind: K, rows: readonly StreamRow[]): RecordOf<K>[] {
  const records: RecordOf<K>[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) records[i] = fromRow(kind, rows[i] as StreamRow);
  return records;
}

/**
 * A record as the change log keeps it (`status_events.snapshot`): its row as JSON, in
 * RECORD_COLUMNS order, without the ingest stream key (a secret history never holds).
 */
export function toSnapshot(kind: StreamKind, record: StreamRecord): string {
  const row: unknown[] = [
    record.id,
    record.provider,
    record.roomId,
    record.externalId,
    record.sessionId,
    record.status,
    record.vendorStatus,
    record.version,
    record.failureReason,
    record.idempotencyKey,
    record.startedAt?.getTime() ?? null,
    record.stoppedAt?.getTime() ?? null,
    record.createdAt.getTime(),
    record.updatedAt.getTime(),
    record.changePosition,
  ];
  if (kind === 'livestream') {
    const livestream = record as LivestreamRecord;
    row.push(livestream.playbackUrl, livestream.ingestRtmpUrl, null, livestream.ingestWhipUrl);
  }
  return JSON.stringify(row);
}
