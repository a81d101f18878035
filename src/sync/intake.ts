import type { Logger } from 'pino';
import type { StreamKind } from '../domain/status.js';
import type { StreamRecord, VendorObservation } from '../domain/types.js';
import type { StreamLifecycle } from '../lifecycle/index.js';
import type { VendorEvent } from '../providers/provider.js';
import type { PromiseOr, Store } from '../store/types.js';

export interface IntakeResult {
  /** Our stream the event was correlated to, if any. */
  streamId: string | null;
  changed: boolean;
}

/** A webhook event's stream, already read by its vendor id (locked as `correlate` would lock it). */
export interface FoundByVendorId {
  stream: StreamRecord | undefined;
}

/**
 * Where vendor news enters: verified webhooks (and the sandbox's simulated ones) and poll answers.
 * It correlates a report to our stream and hands it to the lifecycle; it never writes status itself.
 */
export class Intake {
  constructor(
    private readonly store: Store,
    private readonly lifecycle: StreamLifecycle,
    private readonly logger: Logger,
  ) {}

  /** A pushed vendor event (source WEBHOOK), correlated by the vendor's id, else by room. */
  async receive(event: VendorEvent, found?: FoundByVendorId): Promise<IntakeResult> {
    // Correlated and applied in one transaction, so the row correlation read is the one the
    // change starts from: it need not be read twice.
    const result = await this.lifecycle.observe(event.kind, () => this.correlate(event, found), event.observation, {
      source: 'WEBHOOK',
      eventId: event.eventId ?? null,
      payload: event.payload,
      externalId: event.externalId ?? null,
      sessionId: event.sessionId ?? null,
    });
    if (!result) {
      this.logger.warn(
        { provider: event.provider, kind: event.kind, externalId: event.externalId, roomId: event.roomId },
        'vendor event for an unknown stream',
      );
      return { streamId: null, changed: false };
    }
    return { streamId: result.stream.id, changed: result.changed };
  }

  /**
   * A poll answer for a stream we already know (source POLL). History keeps `payload` when given,
   * else the vendor's own answer (`observation.raw`), else the observation itself.
   */
  async observed(
    kind: StreamKind,
    streamId: string,
    observation: VendorObservation,
    payload?: unknown,
  ): Promise<IntakeResult> {
    const report = payload === undefined ? { source: 'POLL' as const } : { source: 'POLL' as const, payload };
    const result = await this.lifecycle.observe(kind, streamId, observation, report);
    return { streamId, changed: result?.changed ?? false };
  }

  /**
   * The stream `event` is about (from `found` when the delivery's insert already read it by vendor
   * id). Answers at once when the store does (SQLite, inside the delivery's transaction): no
   * promise per step on the webhook path (bench/README.md, "SQLite intake, 2026-12-05 evening
   * session").
   */
  private correlate(event: VendorEvent, found?: FoundByVendorId): PromiseOr<StreamRecord | undefined> {
    if (event.externalId) {
      const byId = found
        ? found.stream
        : this.store.streams.findByExternalId(event.kind, event.provider, event.externalId);
      if (byId instanceof Promise) return byId.then((stream) => stream ?? this.correlateByRoom(event));
      if (byId) return byId;
    }
    return this.correlateByRoom(event);
  }

  private correlateByRoom(event: VendorEvent): PromiseOr<StreamRecord | undefined> {
    if (!event.roomId) return undefined;
    // A webhook may beat the start call's answer (the stream has no vendor id yet), and a vendor
    // may name its job differently in webhooks than in its REST answers (100ms beam_id / job_id):
    // the room's open stream is this event's stream when nothing says otherwise.
    const open = this.store.streams.findOpenInRoom(event.kind, event.provider, event.roomId);
    return open instanceof Promise ? open.then((found) => sameStream(found, event)) : sameStream(open, event);
  }
}

/** The room's open stream when nothing says it is another job or session than `event`'s. */
function sameStream(open: StreamRecord | undefined, event: VendorEvent): StreamRecord | undefined {
  if (!open) return undefined;
  const bothSessions = Boolean(open.sessionId && event.sessionId);
  const sameSession = !bothSessions || open.sessionId === event.sessionId;
  const sameJob =
    !open.externalId || !event.externalId || open.externalId === event.externalId || (bothSessions && sameSession);
  return sameJob && sameSession ? open : undefined;
}
