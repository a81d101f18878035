import type { Logger } from 'pino';
import type { StatusSource, StreamKind } from '../domain/status.js';
import type { StreamRecord, VendorObservation } from '../domain/types.js';
import type { VendorEvent } from '../providers/provider.js';
import type { ApplyResult, StreamService } from '../service/streams.js';
import type { Store } from '../store/store.js';

export interface IntakeResult {
  /** Our stream the event was correlated to, if any. */
  streamId: string | null;
  changed: boolean;
}

/**
 * Where vendor news enters: verified webhooks (and the sandbox's simulated ones) and poll answers.
 * It correlates a report to our stream and hands it to `apply`; it never writes status itself.
 */
export class Intake {
  constructor(
    private readonly store: Store,
    private readonly service: StreamService,
    private readonly logger: Logger,
  ) {}

  /** A pushed vendor event (source WEBHOOK), correlated by the vendor's id, else by room. */
  receive(event: VendorEvent): IntakeResult {
    // Correlated and applied in one transaction (a savepoint inside a webhook's), so the row
    // correlation read is the one `apply` starts from: it need not be read twice.
    const outcome = this.store.transaction(() => {
      const stream = this.correlate(event);
      if (!stream) return { streamId: null, changed: false };
      const result = this.applyObservation(
        event.kind,
        stream.id,
        event.observation,
        'WEBHOOK',
        {
          eventId: event.eventId ?? null,
          payload: event.payload,
          externalId: event.externalId ?? null,
          sessionId: event.sessionId ?? null,
        },
        stream,
      );
      return { streamId: stream.id, changed: result.changed };
    });
    if (!outcome.streamId) {
      this.logger.warn(
        { provider: event.provider, kind: event.kind, externalId: event.externalId, roomId: event.roomId },
        'vendor event for an unknown stream',
      );
    }
    return outcome;
  }

  /**
   * A poll answer for a stream we already know (source POLL). History keeps `payload` when given,
   * else the vendor's own answer (`observation.raw`), else the observation itself.
   */
  observed(kind: StreamKind, streamId: string, observation: VendorObservation, payload?: unknown): IntakeResult {
    const result = this.applyObservation(kind, streamId, observation, 'POLL', {
      payload: payload ?? observation.raw ?? observation,
    });
    return { streamId, changed: result.changed };
  }

  private applyObservation(
    kind: StreamKind,
    streamId: string,
    observation: VendorObservation,
    source: StatusSource,
    extra: { eventId?: string | null; payload?: unknown; externalId?: string | null; sessionId?: string | null },
    current?: StreamRecord,
  ): ApplyResult {
    // `raw` is history's payload (already chosen in `extra`), never a field of the update.
    const { status, vendorStatus, assets, raw: _raw, ...details } = observation;
    return this.service.apply(
      {
        kind,
        streamId,
        status,
        vendorStatus,
        source,
        assets,
        ...details,
        externalId: details.externalId ?? extra.externalId ?? null,
        sessionId: details.sessionId ?? extra.sessionId ?? null,
        eventId: extra.eventId ?? null,
        payload: extra.payload,
      },
      current,
    );
  }

  private correlate(event: VendorEvent): StreamRecord | undefined {
    if (event.externalId) {
      const byId = this.store.findByExternalId(event.kind, event.provider, event.externalId);
      if (byId) return byId;
    }
    if (event.roomId) {
      // A webhook may beat the start call's answer (the stream has no vendor id yet), and a vendor
      // may name its job differently in webhooks than in its REST answers (100ms beam_id / job_id):
      // the room's open stream is this event's stream when nothing says otherwise.
      const open = this.store.findOpenInRoom(event.kind, event.provider, event.roomId);
      if (!open) return undefined;
      const bothSessions = Boolean(open.sessionId && event.sessionId);
      const sameSession = !bothSessions || open.sessionId === event.sessionId;
      const sameJob =
        !open.externalId || !event.externalId || open.externalId === event.externalId || (bothSessions && sameSession);
      if (sameJob && sameSession) return open;
    }
    return undefined;
  }
}
