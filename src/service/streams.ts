import type { Logger } from 'pino';
import { z } from 'zod';
import { ConflictError, DomainError, NotFoundError, ProviderError, ValidationError } from '../domain/errors.js';
import { isActive, isFinal, judgeTransition, type ProviderId, type StreamKind } from '../domain/status.js';
import type {
  AssetInput,
  LivestreamRecord,
  RecordingRecord,
  RecordOf,
  StatusUpdate,
  StreamRecord,
  VendorObservation,
} from '../domain/types.js';
import { parseInput } from '../domain/validation.js';
import type { StreamEvents } from '../events.js';
import { observeCommitted } from '../observability/metrics.js';
import { bindToTrace, inSpan } from '../observability/tracing.js';
import type { ProviderRegistry } from '../providers/index.js';
import type { Provider, StartLivestreamRequest, StartRecordingRequest, StreamRef } from '../providers/provider.js';
import type { Store, StreamPatch } from '../store/store.js';
import type { PollSchedule } from '../sync/schedule.js';

const text = (max: number) => z.string().trim().min(1, { error: 'must not be empty' }).max(max);
const videoSize = z.object({
  width: z.number().int().min(1, { error: 'width must be at least 1' }).max(7680),
  height: z.number().int().min(1, { error: 'height must be at least 1' }).max(7680),
});

const startLivestreamSchema = z.object({
  provider: z.string().nullish(),
  roomId: text(256),
  meetingUrl: z.url({ error: 'must be an absolute URL' }).nullish(),
  recording: z.object({ hlsVod: z.boolean().nullish(), singleFilePerLayer: z.boolean().nullish() }).nullish(),
  destination: text(512).nullish(),
  name: text(256).nullish(),
  video: videoSize.nullish(),
  idempotencyKey: text(256).nullish(),
});

const startRecordingSchema = z.object({
  provider: z.string().nullish(),
  roomId: text(256),
  meetingUrl: z.url({ error: 'must be an absolute URL' }).nullish(),
  resolution: videoSize.nullish(),
  audioOnly: z.boolean().nullish(),
  idempotencyKey: text(256).nullish(),
});

export type StartLivestreamInput = z.input<typeof startLivestreamSchema> & { provider?: ProviderId | null };
export type StartRecordingInput = z.input<typeof startRecordingSchema> & { provider?: ProviderId | null };

export interface ApplyResult<K extends StreamKind = StreamKind> {
  stream: RecordOf<K>;
  /** False when the update was a duplicate, changed nothing, or was refused. */
  changed: boolean;
  /** True when the state machine refused the status (recorded in history as not applied). */
  refused: boolean;
}

const LIVESTREAM_DETAIL_FIELDS = ['playbackUrl', 'ingestRtmpUrl', 'ingestStreamKey', 'ingestWhipUrl'] as const;

/**
 * The one place that changes a stream: starts and stops through providers, and `apply`, which
 * every status report (API answer, webhook, poll) goes through.
 */
export class StreamService {
  constructor(
    private readonly store: Store,
    private readonly events: StreamEvents,
    private readonly providers: ProviderRegistry,
    private readonly defaultProvider: ProviderId,
    private readonly schedule: PollSchedule,
    private readonly logger: Logger,
  ) {}

  /**
   * Checks the transition, writes the row and a history event in one transaction, bumps
   * `version`, and publishes after commit. A refused update is kept in history as not applied.
   * `known` is the stream as the caller read it inside the transaction this one is part of (the
   * intake's correlation), which saves reading it again.
   */
  apply<K extends StreamKind>(update: StatusUpdate & { kind: K }, known?: StreamRecord): ApplyResult<K> {
    const attributes = {
      'livestream.kind': update.kind,
      'livestream.status': update.status,
      'livestream.source': update.source,
    };
    return inSpan('stream.apply', attributes, () => this.applyNow(update, known));
  }

  private applyNow<K extends StreamKind>(update: StatusUpdate & { kind: K }, known?: StreamRecord): ApplyResult<K> {
    let previousStatus: string | null = null;
    const now = update.at ?? new Date();
    // Trusted only when read inside the transaction this apply joins (no writer came between).
    const read = known?.id === update.streamId && this.store.inTransaction ? (known as RecordOf<K>) : undefined;
    const result = this.store.transaction((): ApplyResult<K> => {
      const current = read ?? this.store.getStream(update.kind, update.streamId);
      if (!current) throw new NotFoundError(update.kind, update.streamId);
      previousStatus = current.status;
      if (update.eventId && this.store.hasEvent(update.kind, current.id, update.eventId)) {
        return { stream: current, changed: false, refused: false };
      }
      const verdict = judgeTransition(update.kind, current.status, update.status);
      const payload = serializePayload(update.payload);
      const refused = verdict === 'refuse';
      if (refused) {
        this.store.insertEvent({
          streamKind: update.kind,
          streamId: current.id,
          status: update.status,
          vendorStatus: update.vendorStatus ?? null,
          source: update.source,
          version: current.version,
          applied: false,
          eventId: update.eventId ?? null,
          payload,
          at: now,
        });
      }

      // A refused status may still bring details we lack (a late start answer with the vendor id
      // arriving after the webhook that moved the stream on): those are kept.
      const patch = detailPatch(update.kind, current, update, refused);
      if (verdict === 'apply') {
        patch.status = update.status;
        if (!current.startedAt && (update.status === 'LIVE' || update.status === 'RECORDING')) {
          patch.startedAt = now;
        }
        if (!current.stoppedAt && stopsCapture(update.kind, update.status)) patch.stoppedAt = now;
      }
      const assetsChanged =
        update.kind === 'recording' && update.assets?.length ? this.assetsDiffer(current.id, update.assets) : false;
      if (Object.keys(patch).length === 0 && !assetsChanged) {
        return { stream: current, changed: false, refused };
      }

      const version = current.version + 1;
      // Any change starts the stream's poll schedule over (or ends it): in the same statement.
      const slot = this.schedule.afterChange(update.kind, patch.status ?? current.status, now);
      this.store.updateStream(update.kind, current.id, { ...patch, ...slot, version, updatedAt: now });
      if (assetsChanged && update.assets) this.store.upsertAssets(current.id, update.assets, now);
      this.store.insertEvent({
        streamKind: update.kind,
        streamId: current.id,
        status: verdict === 'apply' ? update.status : current.status,
        vendorStatus: patch.vendorStatus ?? current.vendorStatus,
        source: update.source,
        version,
        applied: true,
        // The refused event above already claimed the vendor's event id.
        eventId: refused ? null : (update.eventId ?? null),
        payload,
        at: now,
      });
      // The row as just written (read in this transaction, so nothing else changed it since).
      const stream = { ...current, ...patch, version, updatedAt: now } as RecordOf<K>;
      return { stream, changed: true, refused };
    });
    // After the commit: the outermost one, when apply runs inside a caller's transaction.
    if (result.changed) {
      const change = { kind: update.kind, stream: result.stream, created: false };
      const publish = () => {
        observeCommitted(change, update.source, previousStatus);
        inSpan('stream.publish', {}, () => this.events.publish(change));
      };
      this.store.afterCommit(bindToTrace(publish));
    }
    return result;
  }

  async startLivestream(input: StartLivestreamInput): Promise<LivestreamRecord> {
    const valid = parseInput(startLivestreamSchema, input);
    return this.start('livestream', valid.provider, valid.roomId, valid.idempotencyKey, valid, (provider, id) => {
      const request: StartLivestreamRequest = { ...valid, streamId: id };
      return provider.startLivestream(request);
    });
  }

  async startRecording(input: StartRecordingInput): Promise<RecordingRecord> {
    const valid = parseInput(startRecordingSchema, input);
    return this.start('recording', valid.provider, valid.roomId, valid.idempotencyKey, valid, (provider, id) => {
      const request: StartRecordingRequest = { ...valid, recordingId: id };
      return provider.startRecording(request);
    });
  }

  stopLivestream(id: string): Promise<LivestreamRecord> {
    return this.stop('livestream', id);
  }

  stopRecording(id: string): Promise<RecordingRecord> {
    return this.stop('recording', id);
  }

  private async start<K extends StreamKind>(
    kind: K,
    requestedProvider: string | null | undefined,
    roomId: string,
    idempotencyKey: string | null | undefined,
    options: object,
    callVendor: (provider: Provider, id: string) => Promise<VendorObservation>,
  ): Promise<RecordOf<K>> {
    const providerId = (requestedProvider ?? this.defaultProvider) as ProviderId;
    const provider = this.providers.get(providerId);
    if (!provider.configured) {
      throw new ProviderError('PROVIDER_NOT_CONFIGURED', providerId, `Provider ${providerId} is not configured`);
    }
    const supported = kind === 'livestream' ? provider.capabilities.livestreams : provider.capabilities.recordings;
    if (!supported) {
      throw new ValidationError(`Provider ${providerId} does not support ${kind}s`, 'provider');
    }

    const reserved = this.reserve(kind, providerId, roomId, idempotencyKey ?? null, options);
    if (!reserved.created) return reserved.stream;
    observeCommitted({ kind, stream: reserved.stream }, 'API', null);
    this.events.publish({ kind, stream: reserved.stream, created: true });

    let observation: VendorObservation;
    try {
      observation = await callVendor(provider, reserved.stream.id);
    } catch (error) {
      const failure = toProviderError(providerId, error, this.logger);
      this.apply({
        kind,
        streamId: reserved.stream.id,
        status: 'FAILED',
        source: 'API',
        failureReason: `${failure.code}: ${failure.message}`,
      });
      throw failure;
    }
    // History keeps the vendor's own answer; `raw` is never a field of the update itself.
    const { status, vendorStatus, assets, raw, ...details } = observation;
    return this.apply({
      kind,
      streamId: reserved.stream.id,
      status,
      vendorStatus,
      source: 'API',
      payload: raw ?? observation,
      assets,
      ...details,
    }).stream;
  }

  /**
   * Creates the stream row in STARTING before any vendor call, in one transaction with the
   * conflict and idempotency checks, so concurrent starts for one room make one vendor call.
   */
  private reserve<K extends StreamKind>(
    kind: K,
    provider: ProviderId,
    roomId: string,
    idempotencyKey: string | null,
    options: object,
  ): { stream: RecordOf<K>; created: boolean } {
    const attempt = () =>
      this.store.transaction(() => {
        if (idempotencyKey) {
          const previous = this.store.findByIdempotencyKey(kind, idempotencyKey);
          if (previous) {
            if (previous.provider !== provider || previous.roomId !== roomId) {
              throw new ConflictError(
                `idempotencyKey was already used for another ${kind} (${previous.provider} room ${previous.roomId})`,
                ...conflictPayload(kind, previous),
              );
            }
            return { stream: previous, created: false };
          }
        }
        const active = this.store.findActive(kind, provider, roomId);
        if (active) {
          throw new ConflictError(
            `A ${kind} is already active in room ${roomId} on ${provider}`,
            ...conflictPayload(kind, active),
          );
        }
        const now = new Date();
        const id = crypto.randomUUID();
        this.store.insertStream(kind, {
          ...this.schedule.afterChange(kind, 'STARTING', now),
          id,
          provider,
          roomId,
          externalId: null,
          sessionId: null,
          status: 'STARTING',
          vendorStatus: null,
          version: 1,
          failureReason: null,
          idempotencyKey,
          options: JSON.stringify(options),
          startedAt: null,
          stoppedAt: null,
          createdAt: now,
          updatedAt: now,
        });
        this.store.insertEvent({
          streamKind: kind,
          streamId: id,
          status: 'STARTING',
          vendorStatus: null,
          source: 'API',
          version: 1,
          applied: true,
          eventId: null,
          payload: null,
          at: now,
        });
        const stream = this.store.getStream(kind, id);
        if (!stream) throw new NotFoundError(kind, id);
        return { stream, created: true };
      });
    try {
      return attempt();
    } catch (error) {
      // Another writer (another replica) won the race for the unique indexes: answer as it would.
      if (isUniqueViolation(error)) return attempt();
      throw error;
    }
  }

  private async stop<K extends StreamKind>(kind: K, id: string): Promise<RecordOf<K>> {
    const stream = this.store.getStream(kind, id);
    if (!stream) throw new NotFoundError(kind, id);
    if (!isActive(kind, stream.status) || stream.status === 'STOPPING') return stream;
    if (!stream.externalId) {
      throw new ConflictError(
        `The ${kind} is still being started on ${stream.provider}; stop it once the start has answered`,
        ...conflictPayload(kind, stream),
      );
    }
    const provider = this.providers.get(stream.provider);
    const ref: StreamRef = {
      id: stream.id,
      roomId: stream.roomId,
      externalId: stream.externalId,
      sessionId: stream.sessionId,
      status: stream.status,
    };
    let observation: VendorObservation;
    try {
      observation = kind === 'livestream' ? await provider.stopLivestream(ref) : await provider.stopRecording(ref);
    } catch (error) {
      // A failed stop changes nothing here: the vendor may still be live, and polling will tell.
      throw toProviderError(stream.provider, error, this.logger);
    }
    const { status, vendorStatus, assets, raw, ...details } = observation;
    return this.apply({
      kind,
      streamId: stream.id,
      status,
      vendorStatus,
      source: 'API',
      payload: raw ?? observation,
      assets,
      ...details,
    }).stream;
  }

  private assetsDiffer(recordingId: string, assets: readonly AssetInput[]): boolean {
    const existing = this.store.assetsFor([recordingId]);
    return assets.some((asset) => {
      const match = existing.find((e) => e.externalId === (asset.externalId ?? null) && e.type === asset.type);
      return !match || match.url !== (asset.url ?? null) || match.path !== (asset.path ?? null);
    });
  }
}

function conflictPayload(kind: StreamKind, stream: StreamRecord): [LivestreamRecord | null, RecordingRecord | null] {
  return kind === 'livestream' ? [stream as LivestreamRecord, null] : [null, stream as RecordingRecord];
}

/**
 * Keys whose values are credentials, kept out of the history a vendor payload is stored in, in
 * either spelling (`stream_key` / `streamKey`, `livekit_token` / `livekitToken`, `x-api-key`).
 */
const SECRET_KEY =
  /^(.*stream_?key|.*token|api_?key|x-api-key|.*secret.*|authorization|password|passphrase|credentials?)$/i;

/**
 * A push URL (`rtmp://host/app/<stream key>`, `srt://host?streamid=<key>`): scheme, host and first
 * path segment (the application) are harmless, whatever follows them may be the stream key.
 */
const STREAM_URL = /^((?:rtmps?|rtsp|srt):\/\/[^/?#\s]+(?:\/[^/?#\s]*)?)([\s\S]*)$/i;

/** A payload as history stores it: JSON, with credentials and stream keys redacted. */
export function serializePayload(payload: unknown): string | null {
  if (payload === undefined) return null;
  return JSON.stringify(payload, (key, value) => {
    if (key && SECRET_KEY.test(key) && value) return '[redacted]';
    const url = typeof value === 'string' ? STREAM_URL.exec(value) : null;
    return url?.[2] && url[2] !== '/' ? `${url[1]}/[redacted]` : value;
  });
}

/** Recording stops capturing at UPLOADING; every final state ends a stream. */
function stopsCapture(kind: StreamKind, status: string): boolean {
  return isFinal(kind, status) || (kind === 'recording' && status === 'UPLOADING');
}

/** The columns an update would change, compared with the current row. */
function detailPatch(
  kind: StreamKind,
  current: StreamRecord,
  update: StatusUpdate,
  statusRefused: boolean,
): StreamPatch {
  const patch: StreamPatch = {};
  const set = <F extends keyof StreamPatch>(field: F, value: StreamPatch[F] | undefined) => {
    if (value === undefined || value === null) return;
    if ((current as unknown as Record<string, unknown>)[field] !== value) patch[field] = value;
  };
  // The first vendor id sticks: a later report can not re-point our stream at another job.
  if (!current.externalId) set('externalId', update.externalId);
  if (!statusRefused || !current.sessionId) set('sessionId', update.sessionId);
  if (!statusRefused) {
    set('vendorStatus', update.vendorStatus);
    if (update.status === 'FAILED') set('failureReason', update.failureReason);
  }
  if (kind === 'livestream') {
    const values: Record<(typeof LIVESTREAM_DETAIL_FIELDS)[number], string | null | undefined> = {
      playbackUrl: update.playbackUrl,
      ingestRtmpUrl: update.ingest?.rtmpUrl,
      ingestStreamKey: update.ingest?.streamKey,
      ingestWhipUrl: update.ingest?.whipUrl,
    };
    for (const field of LIVESTREAM_DETAIL_FIELDS) set(field, values[field]);
  }
  return patch;
}

function toProviderError(provider: ProviderId, error: unknown, logger: Logger): ProviderError {
  if (error instanceof ProviderError) return error;
  if (error instanceof DomainError) {
    return new ProviderError('PROVIDER_REJECTED', provider, error.message);
  }
  logger.error({ err: error, provider }, 'provider call failed unexpectedly');
  return new ProviderError('PROVIDER_UNAVAILABLE', provider, `Provider ${provider} failed to answer`);
}

function isUniqueViolation(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    (error.code === 'SQLITE_CONSTRAINT_UNIQUE' || error.code === '23505')
  );
}
