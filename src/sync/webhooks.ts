import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { ProviderId, StreamKind } from '../domain/status.js';
import { type StreamEvents, topicFor } from '../events.js';
import { setPendingDeliveries } from '../observability/metrics.js';
import { bindToTrace } from '../observability/tracing.js';
import type { ProviderRegistry } from '../providers/index.js';
import { MalformedWebhookError, type ParsedWebhook, type RoomEvent } from '../providers/provider.js';
import type { Store } from '../store/types.js';
import type { Intake } from './intake.js';

/** Largest webhook body accepted; larger ones are answered 413 unread. */
export const MAX_WEBHOOK_BYTES = 1024 * 1024;

/** How long an event for a stream we do not know yet is kept waiting for it. */
const PENDING_WINDOW_MS = 24 * 60 * 60 * 1000;

export interface WebhookAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** Receives room life-cycle events (recording automation). */
export type RoomEventHandler = (event: RoomEvent) => void | Promise<void>;

/**
 * Vendor webhooks: verify the raw bytes, record the delivery durably (provider + delivery id is
 * unique, so a redelivery changes nothing), then apply each observation through the intake.
 * An event whose stream we do not know yet is kept and applied once the stream appears.
 */
export class WebhookIntake {
  private roomEventHandler: RoomEventHandler | null = null;
  /** Streams already seen with their vendor id (bounded): only a new one can unblock deliveries. */
  private readonly withVendorId = new Set<string>();
  private readonly retryScheduled = new Set<ProviderId>();
  /**
   * Deliveries waiting for their stream, per provider: primed from the database at construction and
   * kept exact after each commit that records or completes one, so the retry that follows every
   * new vendor id costs nothing when none waits (the usual case).
   */
  private readonly pendingCounts = new Map<ProviderId, number>();
  /** Settles once `pendingCounts` holds what the database had at construction. */
  private readonly primed: Promise<void>;

  constructor(
    private readonly store: Store,
    private readonly providers: ProviderRegistry,
    private readonly intake: Intake,
    private readonly logger: Logger,
  ) {
    this.primed = store.deliveries.pendingCounts(new Date(Date.now() - PENDING_WINDOW_MS)).then(
      (counts) => {
        for (const [provider, count] of counts) this.addPending(provider, count);
      },
      (error: unknown) => this.logger.error({ err: error }, 'counting pending webhook deliveries failed'),
    );
  }

  onRoomEvent(handler: RoomEventHandler): void {
    this.roomEventHandler = handler;
  }

  async handle(
    provider: ProviderId,
    rawBody: Buffer,
    headers: Readonly<Record<string, string | undefined>>,
  ): Promise<WebhookAnswer> {
    const handler = this.providers.get(provider).webhooks;
    if (!handler) {
      return { status: 401, body: { error: `webhooks for ${provider} are not configured` } };
    }
    let verified = false;
    try {
      verified = await handler.verify(rawBody, headers);
    } catch (error) {
      this.logger.warn({ err: error, provider }, 'webhook verification failed');
    }
    if (!verified) return { status: 401, body: { error: 'invalid signature' } };

    const text = rawBody.toString('utf8');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return { status: 400, body: { error: 'body is not JSON' } };
    }
    let parsed: ParsedWebhook;
    let deliveryId: string;
    try {
      deliveryId = handler.deliveryId(body, headers) ?? contentId(rawBody);
      parsed = handler.parse(body, deliveryId);
    } catch (error) {
      if (error instanceof MalformedWebhookError) return { status: 400, body: { error: error.message } };
      throw error;
    }

    const now = new Date();
    // Recorded and applied in one transaction, committed together with the deliveries that arrive
    // alongside (group commit: one fsync for them all): the 2xx follows that commit, subscribers
    // hear of it after it, and a crash before it leaves nothing behind and no 2xx, so the vendor
    // delivers again.
    const { recorded, allMatched } = await this.store.groupTransaction(
      bindToTrace(async () => {
        const recorded = await this.store.deliveries.record({
          provider,
          deliveryId,
          eventType: parsed.eventType,
          payload: text,
          receivedAt: now,
          // Recorded as done, as nearly every delivery will be once applied (one write instead of
          // two); one whose events do not all find their stream is marked pending below, in the
          // same transaction, so nobody ever sees it done before it is.
          processedAt: now,
        });
        if (!recorded.inserted) return { recorded, allMatched: true };
        const allMatched = parsed.events.length === 0 || (await this.applyEvents(parsed));
        if (!allMatched) {
          await this.store.deliveries.markPending(recorded.id);
          // Counted once durable (dropped with its savepoint if this delivery rolls back).
          this.store.afterCommit(() => this.addPending(provider, 1));
        }
        return { recorded, allMatched };
      }),
    );
    if (!recorded.inserted) return { status: 200, body: { ok: true, duplicate: true } };
    for (const roomEvent of parsed.roomEvents) {
      try {
        await this.roomEventHandler?.(roomEvent);
      } catch (error) {
        this.logger.error({ err: error, provider, type: roomEvent.type }, 'room event handling failed');
      }
    }
    return { status: 200, body: { ok: true, pending: !allMatched } };
  }

  /**
   * Retries waiting deliveries whenever a stream learns its vendor id (a start's answer applied):
   * a webhook that beat the start call's answer is applied then. Runs until `events` closes.
   */
  watch(events: StreamEvents): void {
    for (const kind of ['livestream', 'recording'] as const satisfies readonly StreamKind[]) {
      void (async () => {
        for await (const change of events.subscribe(topicFor(kind, {}))) {
          const key = `${kind}:${change.stream.id}`;
          if (!change.stream.externalId || this.withVendorId.has(key)) continue;
          if (this.withVendorId.size >= 10_000) this.withVendorId.clear();
          this.withVendorId.add(key);
          this.scheduleRetry(change.stream.provider);
        }
      })();
    }
  }

  /** One retry per provider per turn of the event loop, after the change that asked for it. */
  private scheduleRetry(provider: ProviderId): void {
    if (this.pendingCount(provider) === 0 || this.retryScheduled.has(provider)) return;
    this.retryScheduled.add(provider);
    setImmediate(() => {
      this.retryScheduled.delete(provider);
      this.retryPending(provider).catch((error: unknown) => {
        this.logger.error({ err: error, provider }, 'retrying pending webhook deliveries failed');
      });
    });
  }

  /**
   * Applies stored deliveries that were waiting for their stream (called once a stream gets its
   * vendor id, and by the poller). Answers how many were completed.
   */
  async retryPending(provider: ProviderId | null = null): Promise<number> {
    await this.primed;
    if (provider && this.pendingCount(provider) === 0) return 0;
    let completed = 0;
    const since = new Date(Date.now() - PENDING_WINDOW_MS);
    const limit = 500;
    const deliveries = await this.store.deliveries.pending(provider, since, limit);
    const left = new Map<ProviderId, number>();
    for (const delivery of deliveries) {
      const deliveryProvider = delivery.provider as ProviderId;
      let done = false;
      const handler = this.providers.get(deliveryProvider).webhooks;
      if (handler) {
        try {
          const parsed = handler.parse(JSON.parse(delivery.payload), delivery.deliveryId);
          if (await this.applyEvents(parsed)) {
            await this.store.deliveries.markProcessed(delivery.id, new Date());
            completed++;
            done = true;
          }
        } catch (error) {
          this.logger.warn({ err: error, deliveryId: delivery.deliveryId }, 'pending delivery could not be applied');
        }
      }
      if (done) this.addPending(deliveryProvider, -1);
      else left.set(deliveryProvider, (left.get(deliveryProvider) ?? 0) + 1);
    }
    // A complete answer is the truth (deliveries older than the window have left it): resync.
    if (provider && deliveries.length < limit) {
      this.pendingCounts.set(provider, left.get(provider) ?? 0);
      setPendingDeliveries(provider, left.get(provider) ?? 0);
    }
    return completed;
  }

  /** Deliveries of `provider` waiting for their stream. */
  private pendingCount(provider: ProviderId): number {
    return this.pendingCounts.get(provider) ?? 0;
  }

  private addPending(provider: ProviderId, delta: number): void {
    this.pendingCounts.set(provider, Math.max(this.pendingCount(provider) + delta, 0));
    setPendingDeliveries(provider, this.pendingCount(provider));
  }

  /** Applies every observation; true when each found its stream. */
  private async applyEvents(parsed: ParsedWebhook): Promise<boolean> {
    let allMatched = true;
    for (const event of parsed.events) {
      try {
        const result = await this.intake.receive(event);
        if (!result.streamId) allMatched = false;
      } catch (error) {
        // The delivery is recorded: a 5xx would only bring a redelivery that is a duplicate. It
        // stays pending instead, and is retried with the others.
        this.logger.error({ err: error, provider: event.provider, kind: event.kind }, 'webhook event not applied');
        allMatched = false;
      }
    }
    return allMatched;
  }
}

/** A delivery id for vendors that send none: the body's own hash (identical bodies are one delivery). */
function contentId(rawBody: Buffer): string {
  return `sha256:${createHash('sha256').update(rawBody).digest('hex')}`;
}
