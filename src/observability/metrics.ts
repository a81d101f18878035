import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ProviderId, StatusSource, StreamKind } from '../domain/status.js';
import { recent } from './recent.js';
import { bindToTrace, inSpan } from './tracing.js';

/**
 * The process's Prometheus metrics (served on `GET /metrics`, listed in the README). One registry
 * per process: a process is what Prometheus scrapes. Every label value comes from a closed set
 * (providers, kinds, statuses, outcomes), never an id.
 *
 * Hot paths (webhook intake, fan-out) only touch label children that were bound once and cached
 * (`counter.labels(...)` allocates its key on every call), so counting costs a property lookup
 * and an addition.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'livestream_' });

/** A tree of pre-bound children: `bound(a)(b)` answers the same child every time. */
function cached<C>(make: (key: string) => C): (key: string) => C {
  const children: Record<string, C> = Object.create(null);
  return (key) => {
    let child = children[key];
    if (child === undefined) {
      child = make(key);
      children[key] = child;
    }
    return child;
  };
}

/**
 * A counter's child on the webhook path, counted in a plain number and handed to its prom-client
 * counter when scraped (`collect`): prom-client's `inc` hashes and checks the labels on every call,
 * twice a delivery (bench/README.md, "SQLite intake, 2026-12-05 evening session").
 */
class CountedChild {
  count = 0;
  constructor(readonly labels: Record<string, string>) {}
  inc(): void {
    this.count++;
  }
}

/** Hands what `children` counted since the last scrape to `counter`. */
function handOver(counter: Counter<string>, children: readonly CountedChild[]): void {
  for (const child of children) {
    if (child.count === 0) continue;
    counter.inc(child.labels, child.count);
    child.count = 0;
  }
}

const statusChangeCounts: CountedChild[] = [];
new Counter({
  name: 'livestream_status_changes_total',
  help: 'Status changes applied (committed), by stream kind, new status, source and provider.',
  labelNames: ['kind', 'status', 'source', 'provider'] as const,
  registers: [registry],
  collect() {
    handOver(this, statusChangeCounts);
  },
});
const statusChangeChild = cached((kind) =>
  cached((status) =>
    cached((source) =>
      cached((provider) => {
        const child = new CountedChild({ kind, status, source, provider });
        statusChangeCounts.push(child);
        return child;
      }),
    ),
  ),
);

/** An applied (committed) status change. */
export function countStatusChange(kind: StreamKind, status: string, source: StatusSource, provider: ProviderId): void {
  statusChangeChild(kind)(status)(source)(provider).inc();
  recent.change(provider);
}

export type WebhookOutcome =
  | 'accepted'
  | 'duplicate'
  | 'pending'
  | 'rejected_signature'
  | 'malformed'
  | 'too_large'
  | 'failed';

const webhookCounts: CountedChild[] = [];
new Counter({
  name: 'livestream_webhook_deliveries_total',
  help: 'Webhook deliveries received, by provider and outcome.',
  labelNames: ['provider', 'outcome'] as const,
  registers: [registry],
  collect() {
    handOver(this, webhookCounts);
  },
});
const webhookChild = cached((provider) =>
  cached((outcome) => {
    const child = new CountedChild({ provider, outcome });
    webhookCounts.push(child);
    return child;
  }),
);

export function countWebhook(provider: ProviderId, outcome: WebhookOutcome): void {
  webhookChild(provider)(outcome).inc();
  recent.webhook(provider);
}

/** The outcome of a webhook by the HTTP status it was answered with (and its body's flags). */
export function webhookOutcomeOf(status: number, body: Record<string, unknown>): WebhookOutcome {
  if (status === 401) return 'rejected_signature';
  if (status === 400) return 'malformed';
  if (status === 413) return 'too_large';
  if (status >= 500) return 'failed';
  if (body.duplicate === true) return 'duplicate';
  if (body.pending === true) return 'pending';
  return 'accepted';
}

const pendingDeliveries = new Gauge({
  name: 'livestream_webhook_deliveries_pending',
  help: 'Webhook deliveries recorded but waiting for their stream, by provider.',
  labelNames: ['provider'] as const,
  registers: [registry],
});
const pendingChild = cached((provider) => pendingDeliveries.labels({ provider }));

export function setPendingDeliveries(provider: ProviderId, count: number): void {
  pendingChild(provider).set(count);
}

const vendorCalls = new Counter({
  name: 'livestream_vendor_calls_total',
  help: 'Calls to a vendor, by provider, operation and outcome (ok, or the error code in lower case).',
  labelNames: ['provider', 'operation', 'outcome'] as const,
  registers: [registry],
});
const vendorCallDuration = new Histogram({
  name: 'livestream_vendor_call_duration_seconds',
  help: 'Duration of calls to a vendor (retries included), by provider and operation.',
  labelNames: ['provider', 'operation'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});
const vendorCallChild = cached((provider) =>
  cached((operation) => cached((outcome) => vendorCalls.labels({ provider, operation, outcome }))),
);
const vendorDurationChild = cached((provider) =>
  cached((operation) => vendorCallDuration.labels({ provider, operation })),
);

export function countVendorCall(provider: ProviderId, operation: string, outcome: string, seconds: number): void {
  vendorCallChild(provider)(operation)(outcome).inc();
  vendorDurationChild(provider)(operation).observe(seconds);
  recent.call(provider, outcome !== 'ok');
}

const polls = new Counter({
  name: 'livestream_polls_total',
  help: 'Vendor status reads by the poller, by provider and outcome (observed, not_found, failed).',
  labelNames: ['provider', 'outcome'] as const,
  registers: [registry],
});
const pollChild = cached((provider) => cached((outcome) => polls.labels({ provider, outcome })));

export function countPoll(provider: ProviderId, outcome: 'observed' | 'not_found' | 'failed'): void {
  pollChild(provider)(outcome).inc();
}

new Gauge({
  name: 'livestream_poll_budget_remaining',
  help: 'Reads left in the current polling budget window, by provider.',
  labelNames: ['provider'] as const,
  registers: [registry],
  collect() {
    for (const [provider, budget] of recent.budgets()) this.labels({ provider }).set(budget.limit - budget.used);
  },
});

const subscriptionsOpen = new Gauge({
  name: 'livestream_subscriptions_open',
  help: 'Subscriptions open now, by transport (ws, sse, callback).',
  labelNames: ['transport'] as const,
  registers: [registry],
});
const subscriptionsOpened = new Counter({
  name: 'livestream_subscriptions_opened_total',
  help: 'Subscriptions opened, by transport (ws, sse, callback).',
  labelNames: ['transport'] as const,
  registers: [registry],
});
export type SubscriptionTransport = 'ws' | 'sse' | 'callback';
const TRANSPORTS: readonly SubscriptionTransport[] = ['ws', 'sse', 'callback'];
const OPEN = Object.fromEntries(TRANSPORTS.map((transport) => [transport, subscriptionsOpen.labels({ transport })]));
const OPENED = Object.fromEntries(
  TRANSPORTS.map((transport) => [transport, subscriptionsOpened.labels({ transport })]),
);

/** A subscription opened; answers its transport, which `subscriptionClosed` takes back. */
export function subscriptionOpened(context: unknown): SubscriptionTransport {
  // graphql-ws operations carry the socket in their context (see http/server.ts), callback ones
  // their registration (http/callbacks.ts), SSE the request.
  const has = (key: string) => typeof context === 'object' && context !== null && key in context;
  const transport: SubscriptionTransport = has('socket') ? 'ws' : has('callbackSubscription') ? 'callback' : 'sse';
  OPEN[transport]?.inc();
  OPENED[transport]?.inc();
  return transport;
}

export function subscriptionClosed(transport: SubscriptionTransport): void {
  OPEN[transport]?.dec();
}

const deliveryDelay = new Histogram({
  name: 'livestream_commit_to_subscriber_seconds',
  help: 'Time from a change being committed to its event being produced for a subscriber (one delivery in 16 is sampled).',
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  registers: [registry],
});

/** Commit times of published changes, by the record every subscriber of the change receives. */
const committedAt = new WeakMap<object, number>();
let deliveries = 0;

/** A change was committed and is being published (one entry per change, not per subscriber). */
export function markCommitted(record: object): void {
  committedAt.set(record, performance.now());
}

/**
 * A change read back from the change log (replica mode: every change reaches subscribers that
 * way), stamped with when it was made (`at`, the committing replica's clock).
 */
export function markCommittedAt(record: object, at: Date): void {
  committedAt.set(record, performance.now() - Math.max(0, Date.now() - at.getTime()));
}

/** A subscriber's event for `record` is being produced; one in 16 is measured. */
export function observeDelivery(record: unknown): void {
  if ((++deliveries & 15) !== 0 || typeof record !== 'object' || record === null) return;
  const at = committedAt.get(record);
  if (at !== undefined) deliveryDelay.observe((performance.now() - at) / 1000);
}

/**
 * A committed change about to be published: counted when its status moved (`previousStatus` is
 * what it was before; a change of details only is not a status change), and stamped for the
 * commit-to-subscriber histogram.
 */
export function observeCommitted(
  change: { kind: StreamKind; stream: { status: string; provider: ProviderId } },
  source: StatusSource,
  previousStatus: string | null,
): void {
  if (change.stream.status !== previousStatus) {
    countStatusChange(change.kind, change.stream.status, source, change.stream.provider);
  }
  markCommitted(change.stream);
}

/**
 * What runs after a change commits: it is observed (`observeCommitted`), then published, in a
 * `stream.publish` span of the trace that made the change (with tracing on).
 */
export function observedPublication(
  change: { kind: StreamKind; stream: { status: string; provider: ProviderId } },
  source: StatusSource,
  previousStatus: string | null,
  publish: () => void,
): () => void {
  return bindToTrace(() => {
    observeCommitted(change, source, previousStatus);
    inSpan('stream.publish', {}, publish);
  });
}
