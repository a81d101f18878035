import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { StreamKind } from '../../domain/status.js';
import type { AssetInput, VendorObservation } from '../../domain/types.js';
import { lenientText, optionalNumber } from '../fields.js';
import type { ParsedWebhook, RoomEvent, VendorEvent, WebhookHandler } from '../provider.js';
import { MalformedWebhookError } from '../webhook-body.js';
import { type HmsStatus, mapLivestreamStatus, mapRecordingStatus } from './status.js';

/**
 * 100ms webhooks (vendors.md): not signed; the dashboard sends a secret custom header unchanged,
 * compared here in constant time. Envelope `{version, id, app_id, account_id, timestamp, type, data}`;
 * the envelope `id` names the delivery. HLS events report live streams, beam events recordings,
 * session and peer events feed recording automation.
 */

export interface HmsWebhookOptions {
  /** Lower-case header name (HMS_WEBHOOK_HEADER). */
  header: string;
  secret: string;
  /** Assumed life of a pre-signed URL whose own query does not say (unconfirmed by 100ms). */
  presignedUrlLifetimeSeconds?: number;
}

const DEFAULT_PRESIGNED_URL_LIFETIME_SECONDS = 60 * 60;

const envelopeSchema = z.looseObject({
  version: z.union([z.string(), z.number()]).nullish(),
  id: z.string().min(1),
  app_id: lenientText,
  account_id: lenientText,
  timestamp: lenientText,
  type: z.string().min(1),
  data: z.looseObject({}),
});

const dataSchema = z.looseObject({
  room_id: lenientText,
  session_id: lenientText,
  beam_id: lenientText,
  job_id: lenientText,
  stream_id: lenientText,
  peer_id: lenientText,
  role: lenientText,
  user_name: lenientText,
  meeting_url: lenientText,
  reason: lenientText,
  error_message: lenientText,
  error_type: lenientText,
  playback_url: lenientText,
  recording_path: lenientText,
  recording_presigned_url: lenientText,
  duration: optionalNumber,
  size: optionalNumber,
});
type HmsEventData = z.infer<typeof dataSchema>;

/** What each stream event says, in the one status vocabulary of status.ts. */
const STREAM_EVENTS: Record<string, { kind: StreamKind; status: HmsStatus }> = {
  'hls.started.success': { kind: 'livestream', status: 'running' },
  // Viewers see nothing more once HLS stops; building the VOD afterwards does not matter to them.
  'hls.stopped.success': { kind: 'livestream', status: 'completed' },
  'hls.recording.success': { kind: 'livestream', status: 'completed' },
  'hls.failure': { kind: 'livestream', status: 'failed' },
  'beam.started.success': { kind: 'recording', status: 'running' },
  // The recorder has left; the file is being uploaded until beam.recording.success.
  'beam.stopped.success': { kind: 'recording', status: 'post_processing' },
  'beam.recording.success': { kind: 'recording', status: 'completed' },
  'beam.failure': { kind: 'recording', status: 'failed' },
};

const ROOM_EVENTS: Record<string, RoomEvent['type']> = {
  'session.open.success': 'SESSION_STARTED',
  'session.close.success': 'SESSION_ENDED',
  'peer.join.success': 'PEER_JOINED',
  'peer.leave.success': 'PEER_LEFT',
};

/**
 * 100ms's own peers (the beam recorder, the HLS streamer) join with internal roles such as
 * `__internal_recorder`; they are not people, so they neither start nor keep a recording going.
 */
const BOT_ROLE = /^(__internal|beam$|recorder$)/i;

export class HmsWebhookHandler implements WebhookHandler {
  private readonly header: string;
  private readonly secretDigest: Buffer;
  private readonly presignedUrlLifetimeSeconds: number;

  constructor(options: HmsWebhookOptions) {
    this.header = options.header.toLowerCase();
    this.secretDigest = digest(options.secret);
    this.presignedUrlLifetimeSeconds = options.presignedUrlLifetimeSeconds ?? DEFAULT_PRESIGNED_URL_LIFETIME_SECONDS;
  }

  /** Digests of equal length, so timingSafeEqual neither throws nor leaks the secret's length. */
  verify(_rawBody: Buffer, headers: Readonly<Record<string, string | undefined>>): boolean {
    const received = headers[this.header];
    if (typeof received !== 'string' || received.length === 0) return false;
    return timingSafeEqual(digest(received), this.secretDigest);
  }

  deliveryId(body: unknown): string | null {
    if (typeof body !== 'object' || body === null || !('id' in body)) return null;
    return typeof body.id === 'string' && body.id.length > 0 ? body.id : null;
  }

  parse(body: unknown, deliveryId: string): ParsedWebhook {
    const envelope = envelopeSchema.safeParse(body);
    if (!envelope.success) throw new MalformedWebhookError('not a 100ms webhook envelope');
    const { type, timestamp } = envelope.data;
    const data = dataSchema.parse(envelope.data.data);
    const at = parseDate(timestamp) ?? new Date();

    const stream = STREAM_EVENTS[type];
    if (stream) {
      const event = this.streamEvent(stream.kind, stream.status, type, data, at, deliveryId, body);
      return { eventType: type, events: [event], roomEvents: [] };
    }
    const roomEventType = ROOM_EVENTS[type];
    if (roomEventType) {
      if (!data.room_id) throw new MalformedWebhookError(`${type} without room_id`);
      const roomEvent: RoomEvent = {
        provider: 'HMS',
        roomId: data.room_id,
        sessionId: data.session_id ?? null,
        type: roomEventType,
        peerId: data.peer_id ?? null,
        realPeer: !isBot(data),
        meetingUrl: data.meeting_url ?? null,
        at,
      };
      return { eventType: type, events: [], roomEvents: [roomEvent] };
    }
    // A well-formed event we do not act on (track, role, transcription...): kept, nothing applied.
    return { eventType: type, events: [], roomEvents: [] };
  }

  private streamEvent(
    kind: StreamKind,
    vendorStatus: HmsStatus,
    type: string,
    data: HmsEventData,
    at: Date,
    deliveryId: string,
    payload: unknown,
  ): VendorEvent {
    // Whether beam_id/job_id equal the REST object's id is unconfirmed: the intake tries the id
    // first, then the room (and session).
    const externalId = data.beam_id ?? data.job_id ?? data.stream_id ?? null;
    if (!externalId && !data.room_id) throw new MalformedWebhookError(`${type} names neither a job nor a room`);
    const failure = failureOf(type, data);
    const status = failure ? 'failed' : vendorStatus;
    const mapped = kind === 'livestream' ? mapLivestreamStatus(status) : mapRecordingStatus(status);
    if (!mapped) throw new MalformedWebhookError(`${type}: no status for ${status}`);
    const observation: VendorObservation = { status: mapped, vendorStatus: status };
    if (data.session_id) observation.sessionId = data.session_id;
    if (failure) observation.failureReason = failure;
    if (kind === 'livestream' && data.playback_url) observation.playbackUrl = data.playback_url;
    if (type === 'beam.recording.success') {
      const asset = this.recordingAsset(data, at);
      if (asset) observation.assets = [asset];
    }
    return {
      provider: 'HMS',
      kind,
      externalId,
      roomId: data.room_id ?? null,
      sessionId: data.session_id ?? null,
      eventId: deliveryId,
      observation,
      payload,
    };
  }

  /** The composite file: no asset id in the event, so it is known by its path until listed. */
  private recordingAsset(data: HmsEventData, at: Date): AssetInput | null {
    if (!data.recording_path && !data.recording_presigned_url) return null;
    const url = data.recording_presigned_url ?? null;
    return {
      externalId: null,
      type: 'room-composite',
      path: data.recording_path ?? null,
      size: data.size ?? null,
      durationSeconds: data.duration ?? null,
      url,
      urlExpiresAt: url ? presignedUrlExpiry(url, at, this.presignedUrlLifetimeSeconds) : null,
    };
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function isBot(data: HmsEventData): boolean {
  return Boolean(data.role && BOT_ROLE.test(data.role));
}

/** A failure event's reason, or a stop whose reason is `failure: <type>`. */
function failureOf(type: string, data: HmsEventData): string | null {
  const reason = data.reason ?? data.error_message ?? data.error_type ?? null;
  if (type.endsWith('.failure')) return reason ?? `100ms reported ${type}`;
  if (reason && /^failure\b/i.test(reason)) return reason;
  return null;
}

function parseDate(value: string | null | undefined): Date | null {
  if (!value) return null;
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : new Date(time);
}

/**
 * When a pre-signed URL stops working, read from its own query where it says (S3 SigV4
 * `X-Amz-Date` + `X-Amz-Expires`, GCS `X-Goog-Date` + `X-Goog-Expires`, or an epoch `Expires`);
 * otherwise `fallbackSeconds` after the event.
 */
export function presignedUrlExpiry(url: string, issuedAt: Date, fallbackSeconds: number): Date {
  let query: URLSearchParams;
  try {
    query = new URL(url).searchParams;
  } catch {
    return new Date(issuedAt.getTime() + fallbackSeconds * 1000);
  }
  const get = (name: string) => {
    for (const [key, value] of query) if (key.toLowerCase() === name) return value;
    return null;
  };
  const seconds = Number(get('x-amz-expires') ?? get('x-goog-expires') ?? Number.NaN);
  const signedAt = parseCompactDate(get('x-amz-date') ?? get('x-goog-date'));
  if (Number.isFinite(seconds) && seconds > 0) {
    return new Date((signedAt ?? issuedAt).getTime() + seconds * 1000);
  }
  const epoch = Number(get('expires') ?? Number.NaN);
  if (Number.isFinite(epoch) && epoch > 1e9) return new Date(epoch * 1000);
  return new Date(issuedAt.getTime() + fallbackSeconds * 1000);
}

/** `20260101T120000Z` (the signing date format of S3 and GCS). */
function parseCompactDate(value: string | null): Date | null {
  const match = value ? /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value) : null;
  if (!match) return null;
  const [, y, mo, d, h, mi, s] = match.map(Number) as [number, number, number, number, number, number, number];
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}
