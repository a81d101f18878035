import { ConflictError, NotFoundError } from '../domain/errors.js';
import { judgeTransition, type ProviderId, type StatusSource, type StreamKind } from '../domain/status.js';
import type {
  AssetInput,
  LivestreamRecord,
  RecordingRecord,
  RecordOf,
  StatusUpdate,
  StreamRecord,
  VendorObservation,
} from '../domain/types.js';
import type { ChangePublisher } from '../events.js';
import { observedPublication } from '../observability/metrics.js';
import { inSpan } from '../observability/tracing.js';
import type { NewStatusEvent, NewStream, PromiseOr, Store, StreamPatch, StreamWrite } from '../store/types.js';
import { assetsDiffer, detailPatch, type Report, stopsCapture, toUpdate } from './changes.js';
import { serializePayload } from './redact.js';
import type { PollSchedule } from './schedule.js';

export interface ApplyResult<K extends StreamKind = StreamKind> {
  stream: RecordOf<K>;
  /** False when the update was a duplicate, changed nothing, or was refused. */
  changed: boolean;
  /** True when the state machine refused the status (recorded in history as not applied). */
  refused: boolean;
}

export interface CreateRequest {
  provider: ProviderId;
  roomId: string;
  idempotencyKey: string | null;
  /** A hash of the start input, stored with the key: the key reused with other input is a conflict. */
  idempotencyInput?: string | null;
}

/** A stream the caller names by id, or finds (correlation) inside the same transaction. */
export type StreamTarget = string | (() => PromiseOr<StreamRecord | undefined>);

/** One written change: what the row becomes, and the history event that says so. */
interface Change {
  status: string;
  vendorStatus: string | null;
  source: StatusSource;
  eventId: string | null;
  payload: string | null;
  at: Date;
  assets?: readonly AssetInput[];
  /** On creation: the hash of the start input kept beside its idempotency key. */
  idempotencyInput?: string | null;
}

/**
 * The life of a stream: its creation (version 1) and every later change, whatever its source
 * (the API, a webhook, a poll). Each runs in one transaction of the store (a savepoint of the
 * caller's, when there is one): it checks the transition, writes the row with its poll slot and
 * a history event, and publishes the change once the outermost transaction has committed.
 */
export class StreamLifecycle {
  constructor(
    private readonly store: Store,
    private readonly events: ChangePublisher,
    private readonly schedule: PollSchedule,
  ) {}

  /**
   * Creates the stream in STARTING, in one transaction with the conflict and idempotency checks
   * (also guarded by unique indexes), so concurrent starts for one room create one stream. A
   * known idempotency key answers the stream it created (`created` false).
   */
  async create<K extends StreamKind>(
    kind: K,
    request: CreateRequest,
  ): Promise<{ stream: RecordOf<K>; created: boolean }> {
    const attempt = () => this.store.transaction(() => this.createHere(kind, request));
    try {
      return await attempt();
    } catch (error) {
      // Another writer (another replica) won the race for the unique indexes: answer as it would.
      if (this.store.isUniqueViolation(error)) return attempt();
      throw error;
    }
  }

  /**
   * Applies one update: checks the transition, writes the row and a history event, bumps
   * `version`, publishes after commit. A refused update is kept in history as not applied; a
   * vendor event id seen before changes nothing.
   */
  apply<K extends StreamKind>(update: StatusUpdate & { kind: K }): Promise<ApplyResult<K>> {
    return inSpan('stream.apply', { 'livestream.kind': update.kind, 'livestream.source': update.source }, () =>
      this.store.transaction(async () => {
        const current = await this.store.streams.get(update.kind, update.streamId);
        if (!current) throw new NotFoundError(update.kind, update.streamId);
        return this.applyHere(update, current);
      }),
    );
  }

  /**
   * Applies what a vendor reported about one stream. With a finder (webhook correlation), the
   * stream is found and changed in the same transaction; undefined when it finds none.
   */
  observe<K extends StreamKind>(
    kind: K,
    target: StreamTarget,
    observation: VendorObservation,
    report: Report,
  ): Promise<ApplyResult<K> | undefined> {
    return inSpan('stream.apply', { 'livestream.kind': kind, 'livestream.source': report.source }, () =>
      this.store.transaction(async () => {
        // Awaited only when the store answers a promise (PostgreSQL): SQLite answers at once.
        const found = typeof target === 'string' ? this.store.streams.get(kind, target) : target();
        const current = found instanceof Promise ? await found : found;
        if (!current) {
          if (typeof target === 'string') throw new NotFoundError(kind, target);
          return undefined;
        }
        return this.applyHere(toUpdate(kind, current.id, observation, report), current as RecordOf<K>);
      }),
    );
  }

  /** The answer to a start whose idempotency key already made `previous`. */
  private async sameKey<K extends StreamKind>(
    kind: K,
    request: CreateRequest,
    previous: RecordOf<K>,
  ): Promise<{ stream: RecordOf<K>; created: boolean }> {
    if (previous.provider !== request.provider || previous.roomId !== request.roomId) {
      throw new ConflictError(
        `idempotencyKey was already used for another ${kind} (${previous.provider} room ${previous.roomId})`,
        ...conflictPayload(kind, previous),
      );
    }
    const stored = await this.store.streams.idempotencyInput(kind, previous.id);
    if (stored && request.idempotencyInput && stored !== request.idempotencyInput) {
      throw new ConflictError(
        `idempotencyKey was already used with different input for ${kind} ${previous.id}`,
        ...conflictPayload(kind, previous),
      );
    }
    return { stream: previous, created: false };
  }

  private async createHere<K extends StreamKind>(
    kind: K,
    request: CreateRequest,
  ): Promise<{ stream: RecordOf<K>; created: boolean }> {
    const { provider, roomId, idempotencyKey } = request;
    if (idempotencyKey) {
      const previous = await this.store.streams.findByIdempotencyKey(kind, idempotencyKey);
      if (previous) return this.sameKey(kind, request, previous);
    }
    const active = await this.store.streams.findActive(kind, provider, roomId);
    // A concurrent start with the same key committed between the two reads (on PostgreSQL each
    // read sees the latest commit): it is the stream the key made.
    if (active && idempotencyKey && active.idempotencyKey === idempotencyKey) {
      return this.sameKey(kind, request, active);
    }
    if (active) {
      throw new ConflictError(
        `A ${kind} is already active in room ${roomId} on ${provider}`,
        ...conflictPayload(kind, active),
      );
    }
    const now = new Date();
    const stream = newRecord(kind, { id: crypto.randomUUID(), provider, roomId, idempotencyKey, now });
    await this.write(kind, undefined, stream, {
      idempotencyInput: idempotencyKey ? (request.idempotencyInput ?? null) : null,
      status: stream.status,
      vendorStatus: null,
      source: 'API',
      eventId: null,
      payload: null,
      at: now,
    });
    return { stream, created: true };
  }

  private async applyHere<K extends StreamKind>(
    update: StatusUpdate & { kind: K },
    current: RecordOf<K>,
  ): Promise<ApplyResult<K>> {
    const now = update.at ?? new Date();
    if (update.eventId) {
      const seen = this.store.history.has(update.kind, current.id, update.eventId);
      if (seen instanceof Promise ? await seen : seen) return { stream: current, changed: false, refused: false };
    }
    const verdict = judgeTransition(update.kind, current.status, update.status);
    const payload = serializePayload(update.payload);
    const refused = verdict === 'refuse';
    if (refused) {
      await this.store.history.append({
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
    const assets =
      update.kind === 'recording' &&
      update.assets?.length &&
      assetsDiffer(await this.store.assets.listFor([current.id]), update.assets)
        ? update.assets
        : undefined;
    if (Object.keys(patch).length === 0 && !assets) {
      return { stream: current, changed: false, refused };
    }
    const stream = await this.write(update.kind, current, patch, {
      status: verdict === 'apply' ? update.status : current.status,
      vendorStatus: patch.vendorStatus ?? current.vendorStatus,
      source: update.source,
      // The refused event above already claimed the vendor's event id.
      eventId: refused ? null : (update.eventId ?? null),
      payload,
      at: now,
      assets,
    });
    return { stream, changed: true, refused };
  }

  /**
   * The one write of a change: the row (inserted at version 1, or patched with the next version)
   * with its poll slot in the same statement, the assets, the history event, and the publication
   * once the outermost transaction commits. Any change starts the stream's poll schedule over
   * (or ends it).
   */
  private async write<K extends StreamKind>(
    kind: K,
    current: RecordOf<K> | undefined,
    patch: StreamPatch | RecordOf<K>,
    change: Change,
  ): Promise<RecordOf<K>> {
    const slot = this.schedule.afterChange(kind, change.status, change.at);
    const version = current ? current.version + 1 : 1;
    const next = (current ? { ...current, ...patch, version, updatedAt: change.at } : patch) as RecordOf<K>;
    const event: NewStatusEvent = {
      streamKind: kind,
      streamId: next.id,
      status: change.status,
      vendorStatus: change.vendorStatus,
      source: change.source,
      version,
      applied: true,
      eventId: change.eventId,
      payload: change.payload,
      snapshot: next,
      at: change.at,
    };
    let stream: RecordOf<K>;
    if (current) {
      // The event and the row in one write; the event's position is the row's `changePosition`.
      // Object.assign and stores, not a spread: spreading the patch (a fresh object) and adding fields
      // cost ≈ 6 µs a delivery, this ≈ 0.4 (bench/README.md, "SQLite intake against efa62df: why the
      // baselines differed", the allocations).
      const write: StreamWrite = Object.assign({}, patch as StreamPatch, slot);
      write.version = version;
      write.updatedAt = change.at;
      const written = this.store.history.appendChange(event, write);
      const changePosition = written instanceof Promise ? await written : written;
      // The row as just written (read in this transaction, so nothing else changed it since).
      stream = { ...next, changePosition };
    } else {
      // History first: the event's position in the change log is the row's `changePosition`.
      const changePosition = await this.store.history.append(event);
      stream = { ...next, changePosition };
      await this.store.streams.insert(kind, {
        ...(stream as NewStream),
        ...slot,
        idempotencyInput: change.idempotencyInput ?? null,
      });
    }
    if (change.assets) await this.store.assets.upsert(stream.id, change.assets, change.at);
    const published = { kind, stream, created: !current };
    this.store.afterCommit(
      observedPublication(published, change.source, current?.status ?? null, () => this.events.publish(published)),
    );
    return stream;
  }
}

/** A new stream's record: STARTING, version 1, nothing known from the vendor yet. */
function newRecord<K extends StreamKind>(
  kind: K,
  fields: { id: string; provider: ProviderId; roomId: string; idempotencyKey: string | null; now: Date },
): RecordOf<K> {
  const recording: RecordingRecord = {
    id: fields.id,
    provider: fields.provider,
    roomId: fields.roomId,
    externalId: null,
    sessionId: null,
    status: 'STARTING',
    vendorStatus: null,
    version: 1,
    failureReason: null,
    idempotencyKey: fields.idempotencyKey,
    startedAt: null,
    stoppedAt: null,
    createdAt: fields.now,
    updatedAt: fields.now,
    changePosition: 0,
  };
  if (kind === 'recording') return recording as RecordOf<K>;
  const livestream: LivestreamRecord = {
    ...recording,
    status: 'STARTING',
    playbackUrl: null,
    ingestRtmpUrl: null,
    ingestStreamKey: null,
    ingestWhipUrl: null,
  };
  return livestream as RecordOf<K>;
}

/** The stream a ConflictError carries, in the slot of its kind. */
export function conflictPayload(
  kind: StreamKind,
  stream: StreamRecord,
): [LivestreamRecord | null, RecordingRecord | null] {
  return kind === 'livestream' ? [stream as LivestreamRecord, null] : [null, stream as RecordingRecord];
}
