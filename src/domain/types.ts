import type {
  LivestreamStatus,
  ProviderId,
  RecordingStatus,
  RecordTrigger,
  StatusSource,
  StreamKind,
  StreamStatus,
} from './status.js';

export interface Ingest {
  rtmpUrl: string | null;
  streamKey: string | null;
  whipUrl: string | null;
}

interface StreamRecordBase {
  id: string;
  provider: ProviderId;
  roomId: string;
  externalId: string | null;
  sessionId: string | null;
  vendorStatus: string | null;
  version: number;
  failureReason: string | null;
  idempotencyKey: string | null;
  startedAt: Date | null;
  stoppedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** The change-log position of the state this record shows (its `changeCursor`); 0 before it is written. */
  changePosition: number;
}

export interface LivestreamRecord extends StreamRecordBase {
  status: LivestreamStatus;
  playbackUrl: string | null;
  ingestRtmpUrl: string | null;
  ingestStreamKey: string | null;
  ingestWhipUrl: string | null;
}

export interface RecordingRecord extends StreamRecordBase {
  status: RecordingStatus;
}

export type StreamRecord = LivestreamRecord | RecordingRecord;
export type RecordOf<K extends StreamKind> = K extends 'livestream' ? LivestreamRecord : RecordingRecord;

export interface RecordingAssetRecord {
  id: string;
  recordingId: string;
  externalId: string | null;
  type: string;
  path: string | null;
  size: number | null;
  durationSeconds: number | null;
  url: string | null;
  urlExpiresAt: Date | null;
  createdAt: Date;
}

export interface StatusEventRecord {
  id: number;
  streamKind: StreamKind;
  streamId: string;
  status: string;
  vendorStatus: string | null;
  source: StatusSource;
  version: number;
  applied: boolean;
  eventId: string | null;
  payload: string | null;
  at: Date;
}

export interface AssetInput {
  externalId?: string | null;
  type: string;
  path?: string | null;
  size?: number | null;
  durationSeconds?: number | null;
  url?: string | null;
  urlExpiresAt?: Date | null;
}

/** Everything a vendor can tell us about one stream besides its status. */
export interface StreamDetails {
  externalId?: string | null;
  sessionId?: string | null;
  playbackUrl?: string | null;
  ingest?: Partial<Ingest> | null;
  failureReason?: string | null;
}

/**
 * What a vendor reports about one of its streams, from a start/stop answer, a webhook or a poll,
 * already mapped to our status model by that vendor's provider.
 */
export interface VendorObservation extends StreamDetails {
  status: StreamStatus;
  vendorStatus: string;
  assets?: AssetInput[];
  /**
   * The vendor's answer this observation was read from, kept in history as the update's payload
   * (credentials redacted there). Left unset by webhook parsing, whose delivery body is the payload.
   */
  raw?: unknown;
}

/** The single input of `apply`: an observed status (or detail) change for one stream. */
export interface StatusUpdate extends StreamDetails {
  kind: StreamKind;
  streamId: string;
  status: StreamStatus;
  vendorStatus?: string | null;
  source: StatusSource;
  /** The vendor's event or delivery id: the same id applied twice changes nothing. */
  eventId?: string | null;
  /** The raw vendor payload, kept in history when the update changes something. */
  payload?: unknown;
  assets?: AssetInput[];
  at?: Date;
}

export interface RoomAutomationRecord {
  provider: ProviderId;
  roomId: string;
  recordOn: RecordTrigger;
  stopWhenEmpty: boolean;
  /** What a browser-composite recorder opens (100ms `meeting_url`); null when the vendor needs none. */
  meetingUrl: string | null;
  updatedAt: Date;
}
