import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { ProviderId } from '../domain/status.js';
import type { ProviderRegistry } from '../providers/index.js';
import { MalformedWebhookError, type ParsedWebhook, type RoomEvent } from '../providers/provider.js';
import type { Store } from '../store/store.js';
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

  constructor(
    private readonly store: Store,
    private readonly providers: ProviderRegistry,
    private readonly intake: Intake,
    private readonly logger: Logger,
  ) {}

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

    let body: unknown;
    try {
      body = JSON.parse(rawBody.toString('utf8'));
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
    const recorded = this.store.insertDelivery({
      provider,
      deliveryId,
      eventType: parsed.eventType,
      payload: rawBody.toString('utf8'),
      receivedAt: now,
    });
    if (!recorded.inserted) return { status: 200, body: { ok: true, duplicate: true } };

    const allMatched = this.applyEvents(parsed);
    if (allMatched) this.store.markDeliveryProcessed(recorded.id, now);
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
   * Applies stored deliveries that were waiting for their stream (called once a stream gets its
   * vendor id, and by the poller). Answers how many were completed.
   */
  retryPending(provider: ProviderId | null = null): number {
    let completed = 0;
    const since = new Date(Date.now() - PENDING_WINDOW_MS);
    for (const delivery of this.store.pendingDeliveries(provider, since, 500)) {
      const handler = this.providers.get(delivery.provider as ProviderId).webhooks;
      if (!handler) continue;
      try {
        const parsed = handler.parse(JSON.parse(delivery.payload), delivery.deliveryId);
        if (this.applyEvents(parsed)) {
          this.store.markDeliveryProcessed(delivery.id, new Date());
          completed++;
        }
      } catch (error) {
        this.logger.warn({ err: error, deliveryId: delivery.deliveryId }, 'pending delivery could not be applied');
      }
    }
    return completed;
  }

  /** Applies every observation; true when each found its stream. */
  private applyEvents(parsed: ParsedWebhook): boolean {
    let allMatched = true;
    for (const event of parsed.events) {
      const result = this.intake.receive(event);
      if (!result.streamId) allMatched = false;
    }
    return allMatched;
  }
}

/** A delivery id for vendors that send none: the body's own hash (identical bodies are one delivery). */
function contentId(rawBody: Buffer): string {
  return `sha256:${createHash('sha256').update(rawBody).digest('hex')}`;
}
