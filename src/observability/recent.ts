import { PROVIDERS, type ProviderId } from '../domain/status.js';

/**
 * What the status page shows per vendor over the last minutes: calls, failures, webhook deliveries
 * and applied changes per minute, and how much of each polling budget the current window used.
 * Fixed-size rings per provider, so memory stays the same however long the process runs.
 */

/** Minutes kept. */
export const RECENT_MINUTES = 15;
const MINUTE_MS = 60_000;

class MinuteRing {
  private readonly counts = new Array<number>(RECENT_MINUTES).fill(0);
  private readonly minutes = new Array<number>(RECENT_MINUTES).fill(-1);

  add(now: number): void {
    const minute = Math.floor(now / MINUTE_MS);
    const slot = minute % RECENT_MINUTES;
    if (this.minutes[slot] !== minute) {
      this.minutes[slot] = minute;
      this.counts[slot] = 0;
    }
    this.counts[slot] = (this.counts[slot] ?? 0) + 1;
  }

  /** Counts per minute, oldest first, the current minute last. */
  series(now: number): number[] {
    const current = Math.floor(now / MINUTE_MS);
    const out: number[] = [];
    for (let minute = current - RECENT_MINUTES + 1; minute <= current; minute++) {
      const slot = minute % RECENT_MINUTES;
      out.push(this.minutes[slot] === minute ? (this.counts[slot] ?? 0) : 0);
    }
    return out;
  }
}

/** Reads taken from a polling budget, as a ring of their times (the budget's size at most). */
class BudgetWindow {
  private readonly times: number[];
  private next = 0;

  constructor(
    readonly limit: number,
    private readonly windowMs: number,
  ) {
    this.times = new Array<number>(Math.min(limit, 100_000)).fill(0);
  }

  take(now: number): void {
    if (this.times.length === 0) return;
    this.times[this.next] = now;
    this.next = (this.next + 1) % this.times.length;
  }

  used(now: number): number {
    const since = now - this.windowMs;
    let used = 0;
    for (const at of this.times) if (at > since) used++;
    return used;
  }
}

interface VendorActivity {
  calls: MinuteRing;
  failures: MinuteRing;
  webhooks: MinuteRing;
  changes: MinuteRing;
}

export interface VendorSummary {
  provider: ProviderId;
  /** Per minute, oldest first, over the last RECENT_MINUTES minutes. */
  calls: number[];
  failures: number[];
  webhooks: number[];
  changes: number[];
  budget: { limit: number; used: number; windowMs: number } | null;
}

class RecentActivity {
  private readonly vendors = new Map<ProviderId, VendorActivity>(
    PROVIDERS.map((id) => [
      id,
      { calls: new MinuteRing(), failures: new MinuteRing(), webhooks: new MinuteRing(), changes: new MinuteRing() },
    ]),
  );
  private budgetWindows = new Map<ProviderId, BudgetWindow>();
  private budgetWindowMs = 0;

  call(provider: ProviderId, failed: boolean): void {
    const now = Date.now();
    const vendor = this.vendors.get(provider);
    vendor?.calls.add(now);
    if (failed) vendor?.failures.add(now);
  }

  webhook(provider: ProviderId): void {
    this.vendors.get(provider)?.webhooks.add(Date.now());
  }

  change(provider: ProviderId): void {
    this.vendors.get(provider)?.changes.add(Date.now());
  }

  /** Sets the polling budgets (the poller's configuration); resets what was used. */
  configureBudgets(limits: Readonly<Record<ProviderId, number>>, windowMs: number): void {
    this.budgetWindowMs = windowMs;
    this.budgetWindows = new Map(PROVIDERS.map((id) => [id, new BudgetWindow(limits[id], windowMs)]));
  }

  /** The poller took one read from `provider`'s budget. */
  budgetTaken(provider: ProviderId): void {
    this.budgetWindows.get(provider)?.take(Date.now());
  }

  budgets(): [ProviderId, { limit: number; used: number }][] {
    const now = Date.now();
    return [...this.budgetWindows].map(([id, window]) => [id, { limit: window.limit, used: window.used(now) }]);
  }

  summary(): VendorSummary[] {
    const now = Date.now();
    return PROVIDERS.map((provider) => {
      const vendor = this.vendors.get(provider) as VendorActivity;
      const window = this.budgetWindows.get(provider);
      return {
        provider,
        calls: vendor.calls.series(now),
        failures: vendor.failures.series(now),
        webhooks: vendor.webhooks.series(now),
        changes: vendor.changes.series(now),
        budget: window ? { limit: window.limit, used: window.used(now), windowMs: this.budgetWindowMs } : null,
      };
    });
  }
}

/** The process's recent activity (one per process, like the metrics registry). */
export const recent = new RecentActivity();
