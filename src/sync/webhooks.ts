import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { ProviderId, StreamKind } from '../domain/status.js';
import type { StreamRecord } from '../domain/types.js';
import { type StreamEvents, topicFor } from '../events.js';
import { setPendingDeliveries } from '../observability/metrics.js';
import { bindToTrace } from '../observability/tracing.js';
import type { ProviderRegistry } from '../providers/index.js';
import { MalformedWebhookError, type ParsedWebhook, type RoomEvent, type VendorEvent } from '../providers/provider.js';
import type { DeliveryRecord, Store } from '../store/types.js';
import type { FoundByVendorId, Intake } from './intake.js';

/** Largest webhook body accepted; larger ones are answered 413 unread. */
export const MAX_WEBHOOK_BYTES = 1024 * 1024;
/** Longest delivery id and event type a vendor may send (theirs are uuids and dotted names). */
export const MAX_DELIVERY_ID_LENGTH = 256;
export const MAX_EVENT_TYPE_LENGTH = 128;

/** Headers for asking a handler whether a delivery's id comes from its body alone. */
const NO_HEADERS: Readonly<Record<string, string | undefined>> = Object.freeze({});

/** How many waiting deliveries one retry applies at most. */
const RETRY_BATCH = 500;

export interface WebhookAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** How long and how many deliveries for streams not known (yet) are kept waiting for them. */
export interface PendingLimits {
  pendingMaxAgeMs: number;
  pendingMax: number;
}

/** Receives room life-cycle events (recording automation). */
export type RoomEventHandler = (event: RoomEvent) => void | Promise<void>;

/** One provider's expiry of waiting deliveries: the last one started, and the one asked for since. */
interface Expiry {
  /** Never rejects (`expireNow`). */
  running: Promise<void>;
  next: Promise<void> | null;
}

/** Which stream a waiting event waits for: the vendor's id for it, else its room. */
export function correlationKey(kind: StreamKind, ids: { externalId?: string | null; roomId?: string | null }) {
  if (ids.externalId) return `${kind}:ext:${ids.externalId}`;
  if (ids.roomId) return `${kind}:room:${ids.roomId}`;
  return null;
}

/**
 * Vendor webhooks: verify the raw bytes, record the delivery durably (provider + delivery id, and
 * provider + what the vendor signed, are unique, so neither a redelivery nor a replay of the
 * signed bytes under a new delivery id changes anything), then apply each observation through the
 * intake. An event whose stream we do not know yet is kept, keyed by that stream, and applied once
 * the stream appears, or dropped after `pendingMaxAgeMs` or beyond `pendingMax` per vendor.
 */
export class WebhookIntake {
  private roomEventHandler: RoomEventHandler | null = null;
  /** Streams already seen with their vendor id (bounded): only a new one can unblock deliveries. */
  private readonly withVendorId = new Set<string>();
  /** Correlation keys to retry at the next turn of the event loop, per provider. */
  private readonly retryKeys = new Map<ProviderId, Set<string>>();
  /**
   * Deliveries waiting for their stream, per provider: primed from the database at construction and
   * kept exact after each commit that records or completes one, so the retry that follows every
   * new vendor id costs nothing when none waits (the usual case).
   */
  private readonly pendingCounts = new Map<ProviderId, number>();
  /** Settles once `pendingCounts` holds what the database had at construction. */
  private readonly primed: Promise<void>;
  private lastAgeSweep = Date.now();
  /** Per provider, the expiry running and the one that follows it (`expire`). */
  private readonly expiries = new Map<ProviderId, Expiry>();

  constructor(
    private readonly store: Store,
    private readonly providers: ProviderRegistry,
    private readonly intake: Intake,
    private readonly limits: PendingLimits,
    private readonly logger: Logger,
  ) {
    this.primed = store.deliveries.pendingCounts(this.oldestKept()).then(
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
      const verifying = handler.verify(rawBody, headers);
      verified = verifying instanceof Promise ? await verifying : verifying;
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
    let contentKey: string | null;
    try {
      // What the vendor signed needs a key of its own only when the delivery id is not part of it
      // (a header's): resent bytes carry the same body-borne id, already unique. Without that key
      // a delivery skips the hash and one random page of a unique index in its commit (bench/README.md).
      const bodyId = handler.deliveryId(body, NO_HEADERS);
      const declared = bodyId ?? handler.deliveryId(body, headers);
      contentKey = declared !== null && declared === bodyId ? null : contentId(rawBody);
      deliveryId = declared ?? contentKey ?? contentId(rawBody);
      if (deliveryId.length > MAX_DELIVERY_ID_LENGTH) {
        return { status: 400, body: { error: `delivery id longer than ${MAX_DELIVERY_ID_LENGTH} characters` } };
      }
      parsed = handler.parse(body, deliveryId);
    } catch (error) {
      if (error instanceof MalformedWebhookError) return { status: 400, body: { error: error.message } };
      throw error;
    }
    if (parsed.eventType.length > MAX_EVENT_TYPE_LENGTH) {
      return { status: 400, body: { error: `event type longer than ${MAX_EVENT_TYPE_LENGTH} characters` } };
    }
    // Authentic, but nothing this service acts on (an event type it does not use): acknowledged,
    // not stored, so a vendor's traffic for everything else costs no storage.
    if (parsed.events.length === 0 && parsed.roomEvents.length === 0) {
      return { status: 200, body: { ok: true, ignored: true } };
    }

    const now = new Date();
    // Recorded and applied in one transaction, committed together with the deliveries that arrive
    // alongside (group commit: one fsync for them all): the 2xx follows that commit, subscribers
    // hear of it after it, and a crash before it leaves nothing behind and no 2xx, so the vendor
    // delivers again.
    const { recorded, waitingFor } = await this.store.groupTransaction(
      bindToTrace(async () => {
        const delivery = {
          provider,
          deliveryId,
          contentKey,
          eventType: parsed.eventType,
          // No body is kept once applied (history keeps the redacted payload); a delivery left
          // waiting keeps its raw body below, until it is applied or given up.
          receivedAt: now,
          // Recorded as done, as nearly every delivery will be once applied (one write instead of
          // two); one whose events do not all find their stream is marked pending below, in the
          // same transaction, so nobody ever sees it done before it is.
          processedAt: now,
        };
        // A delivery of one event naming its vendor id (nearly all): its stream is read with the
        // delivery's insert, one round trip on PostgreSQL (bench/README.md, "PostgreSQL intake,
        // 2026-12-05 evening session"); the intake then correlates from that row. Awaited only
        // when the store answers a promise (PostgreSQL): SQLite answers at once.
        const [only, ...more] = parsed.events;
        const lookup = only?.externalId && more.length === 0 ? only : undefined;
        const recording = lookup?.externalId
          ? this.store.deliveries.recordFinding(delivery, {
              kind: lookup.kind,
              provider: lookup.provider,
              externalId: lookup.externalId,
            })
          : this.store.deliveries.record(delivery);
        const recorded: { inserted: boolean; id: number; stream?: StreamRecord } =
          recording instanceof Promise ? await recording : recording;
        if (!recorded.inserted) return { recorded, waitingFor: undefined };
        const waitingFor = await this.applyEvents(parsed, lookup ? { stream: recorded.stream } : undefined);
        if (waitingFor !== undefined) {
          await this.store.deliveries.markPending(recorded.id, text, waitingFor);
          // Counted once durable (dropped if this delivery rolls back).
          this.store.afterCommit(() => this.addPending(provider, 1));
        }
        return { recorded, waitingFor };
      }),
    );
    if (!recorded.inserted) return { status: 200, body: { ok: true, duplicate: true } };
    if (waitingFor !== undefined) await this.expireIfOver(provider);
    for (const roomEvent of parsed.roomEvents) {
      try {
        await this.roomEventHandler?.(roomEvent);
      } catch (error) {
        this.logger.error({ err: error, provider, type: roomEvent.type }, 'room event handling failed');
      }
    }
    return { status: 200, body: { ok: true, pending: waitingFor !== undefined } };
  }

  /**
   * Retries the deliveries waiting for a stream whenever it learns its vendor id (a start's answer
   * applied): a webhook that beat the start call's answer is applied then. Runs until `events` closes.
   */
  watch(events: StreamEvents): void {
    // A listener told in the publication itself: an async iterator here cost every change a
    // promise and a microtask turn (bench/README.md, "SQLite intake, 2026-12-05, late session").
    for (const kind of ['livestream', 'recording'] as const satisfies readonly StreamKind[]) {
      events.listen(topicFor(kind, {}), { deliver: (change) => this.learned(kind, change.stream) });
    }
  }

  /** A stream changed: the first change that shows its vendor id retries what waits for it. */
  private learned(kind: StreamKind, stream: StreamRecord): void {
    // Nearly always nothing waits: then nothing to retry, nor to remember (a string and a set
    // entry per change cost the intake ≈ 4 µs a delivery, bench/README.md, "SQLite intake,
    // 2026-12-05, late session"); a stream seen again once something waits costs one retry more.
    if (!stream.externalId || this.pendingCount(stream.provider) === 0) return;
    const key = `${kind}:${stream.id}`;
    if (this.withVendorId.has(key)) return;
    if (this.withVendorId.size >= 10_000) this.withVendorId.clear();
    this.withVendorId.add(key);
    this.scheduleRetry(stream.provider, [
      correlationKey(kind, { externalId: stream.externalId }),
      correlationKey(kind, { roomId: stream.roomId }),
    ]);
  }

  /** One retry per provider per turn of the event loop, for the streams that asked for it. */
  private scheduleRetry(provider: ProviderId, keys: readonly (string | null)[]): void {
    if (this.pendingCount(provider) === 0) return;
    let waiting = this.retryKeys.get(provider);
    const scheduled = waiting !== undefined;
    waiting ??= new Set();
    for (const key of keys) if (key) waiting.add(key);
    this.retryKeys.set(provider, waiting);
    if (scheduled) return;
    setImmediate(() => {
      const batch = [...(this.retryKeys.get(provider) ?? [])];
      this.retryKeys.delete(provider);
      this.store.deliveries
        .pendingFor(provider, batch, this.oldestKept(), RETRY_BATCH)
        .then((deliveries) => this.retry(deliveries))
        .catch((error: unknown) => {
          this.logger.error({ err: error, provider }, 'retrying pending webhook deliveries failed');
        });
    });
  }

  /**
   * Applies stored deliveries that were waiting for their stream, oldest first (at boot, after
   * giving up on those too old or too many). Answers how many were completed.
   */
  async retryPending(provider: ProviderId | null = null): Promise<number> {
    await this.primed;
    for (const [id, count] of [...this.pendingCounts]) {
      if (count > 0 && (provider === null || provider === id)) await this.expire(id);
    }
    this.lastAgeSweep = Date.now();
    const deliveries = await this.store.deliveries.pending(provider, this.oldestKept(), RETRY_BATCH);
    return this.retry(deliveries);
  }

  private async retry(deliveries: readonly DeliveryRecord[]): Promise<number> {
    let completed = 0;
    for (const delivery of deliveries) {
      const deliveryProvider = delivery.provider as ProviderId;
      const handler = this.providers.get(deliveryProvider).webhooks;
      if (!handler) continue;
      try {
        const body: unknown = JSON.parse(delivery.payload);
        const parsed = handler.parse(body, delivery.deliveryId);
        if ((await this.applyEvents(parsed)) === undefined) {
          await this.store.deliveries.markProcessed(delivery.id, new Date());
          this.addPending(deliveryProvider, -1);
          completed++;
        }
      } catch (error) {
        this.logger.warn({ err: error, deliveryId: delivery.deliveryId }, 'pending delivery could not be applied');
      }
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

  /** The oldest a waiting delivery may be. */
  private oldestKept(): Date {
    return new Date(Date.now() - this.limits.pendingMaxAgeMs);
  }

  /** Over the count, or a tenth of the age limit since the last sweep: give up on the oldest. */
  private async expireIfOver(provider: ProviderId): Promise<void> {
    const sweepDue = Date.now() - this.lastAgeSweep > this.limits.pendingMaxAgeMs / 10;
    if (this.pendingCount(provider) <= this.limits.pendingMax && !sweepDue) return;
    if (sweepDue) this.lastAgeSweep = Date.now();
    await this.expire(provider);
  }

  /**
   * Gives up on what waits beyond the limits, once every delivery asking has been recorded: one
   * expiry per provider runs at a time, and those asked for meanwhile, or in the same turn of the
   * event loop (a group commit answers its members together), share the next one, which starts
   * after that turn and once the running one ends, and covers all of them (it keeps the newest
   * `pendingMax` as the database has them then). A statement, and on PostgreSQL a commit, for
   * each delivery left waiting over the limit was most of what one cost (bench/README.md,
   * "Pending deliveries over the limit").
   */
  private expire(provider: ProviderId): Promise<void> {
    let expiry = this.expiries.get(provider);
    if (!expiry) {
      expiry = { running: Promise.resolve(), next: null };
      this.expiries.set(provider, expiry);
    }
    const slot = expiry;
    slot.next ??= slot.running
      .then(() => new Promise<void>((resolve) => setImmediate(resolve)))
      .then(() => {
        slot.next = null;
        slot.running = this.expireNow(provider);
        return slot.running;
      });
    return slot.next;
  }

  /** Never rejects: a failure is logged, and the next expiry tries again. */
  private async expireNow(provider: ProviderId): Promise<void> {
    try {
      const dropped = await this.store.deliveries.expirePending(
        provider,
        this.oldestKept(),
        this.limits.pendingMax,
        new Date(),
      );
      if (dropped > 0) {
        this.addPending(provider, -dropped);
        this.logger.warn({ provider, dropped }, 'gave up on webhook deliveries for streams that never appeared');
      }
    } catch (error) {
      this.logger.error({ err: error, provider }, 'expiring pending webhook deliveries failed');
    }
  }

  /**
   * Applies every observation (`found`: the one event's stream, read with the delivery); answers undefined when each found its stream, else the
   * correlation key of the first that did not (null when it names no stream at all).
   */
  private async applyEvents(parsed: ParsedWebhook, found?: FoundByVendorId): Promise<string | null | undefined> {
    let waitingFor: string | null | undefined;
    for (const event of parsed.events) {
      let matched = false;
      try {
        matched = (await this.intake.receive(event, found)).streamId !== null;
      } catch (error) {
        // The delivery is recorded: a 5xx would only bring a redelivery that is a duplicate. It
        // stays pending instead, and is retried with the others.
        this.logger.error({ err: error, provider: event.provider, kind: event.kind }, 'webhook event not applied');
      }
      if (!matched && waitingFor === undefined) waitingFor = keyOf(event);
    }
    return waitingFor;
  }
}

function keyOf(event: VendorEvent): string | null {
  return correlationKey(event.kind, event);
}

/** What a vendor signed, for those whose delivery id is not: the body's own hash. */
function contentId(rawBody: Buffer): string {
  return `sha256:${createHash('sha256').update(rawBody).digest('hex')}`;
}
