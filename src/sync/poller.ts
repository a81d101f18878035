import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import pThrottle, { type ThrottledFunction } from 'p-throttle';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { ProviderError } from '../domain/errors.js';
import { PROVIDERS, type ProviderId, type StreamKind } from '../domain/status.js';
import type { VendorObservation } from '../domain/types.js';
import type { PollSchedule } from '../lifecycle/index.js';
import { countPoll } from '../observability/metrics.js';
import { recent } from '../observability/recent.js';
import type { ProviderRegistry } from '../providers/index.js';
import type { StreamRef } from '../providers/provider.js';
import type { PollClaim, Store } from '../store/types.js';
import type { Intake } from './intake.js';

/**
 * Reads every stream that is not final from its vendor, so that a lost webhook is healed and a
 * vendor without webhooks (Tenbyte) works at all.
 *
 * The schedule lives in the database, per stream: due at `next_poll_at`, with an interval that
 * starts at POLL_INTERVAL_MS, doubles (jittered) while a poll changes nothing, up to
 * POLL_MAX_INTERVAL_MS, and starts over after any change, whatever its source (a poll, a webhook
 * or the API: `apply` writes the new slot with the change, see PollSchedule). A poller claims due streams under a lease
 * held in the database, so several replicas can share the work and never read one stream at once.
 * Each vendor's reads go through a request budget below its rate limit.
 *
 * A stream stuck in a transitional state past POLL_STUCK_AFTER_MS is failed when the vendor no
 * longer knows it, or when its start never answered (no vendor id). Everything goes through
 * `apply` (via the intake) with source POLL.
 */

export type PollingOptions = Config['polling'] & {
  /** How long `stop` waits for polls in flight before releasing their leases anyway. */
  stopTimeoutMs: number;
};

const KINDS: readonly StreamKind[] = ['livestream', 'recording'];

/** States a stream passes through on its way somewhere: staying in one too long means trouble. */
const TRANSITIONAL: Record<StreamKind, ReadonlySet<string>> = {
  livestream: new Set(['STARTING', 'STOPPING']),
  recording: new Set(['STARTING', 'STOPPING', 'UPLOADING']),
};

/** Bounds on the wait between two looks at the schedule. */
const MIN_TICK_MS = 20;
const MAX_TICK_MS = 1000;

/**
 * Each vendor's poll budget: `take` waits until one more read fits in it, `waiting` counts the
 * takes of this process queued for room. Per process by default (`localPollBudget`); shared by
 * every replica through Redis when REDIS_URL is set (replicas/poll-budget.ts).
 */
export interface PollBudget {
  take(provider: ProviderId): Promise<void>;
  waiting(provider: ProviderId): number;
  close?(): Promise<void>;
}

/** Builds the budget when polling starts; `signal` aborts every take still waiting (polling stops). */
export type PollBudgetFactory = (signal: AbortSignal) => PollBudget;

/** The per-process budget: a strict p-throttle per vendor (a throttled no-op, awaited per read). */
export function localPollBudget(options: Config['polling']): PollBudgetFactory {
  return (signal) => {
    const throttles = new Map<ProviderId, ThrottledFunction<() => Promise<void>>>(
      PROVIDERS.map((id) => {
        const throttle = pThrottle({
          limit: options.budget[id],
          interval: options.budgetWindowMs,
          strict: true,
          signal,
        });
        return [id, throttle(async () => {})];
      }),
    );
    return {
      take: async (provider) => throttles.get(provider)?.(),
      waiting: (provider) => throttles.get(provider)?.queueSize ?? 0,
    };
  };
}

export interface PollerStats {
  /** Vendor reads sent. */
  polls: number;
  /** Reads that failed (vendor down, rate limited, unreadable answer). */
  failedPolls: number;
  /** Streams this poller marked FAILED because they were stuck. */
  markedFailed: number;
}

export class Poller {
  /** Names this process in the lease columns. */
  readonly owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly stats: PollerStats = { polls: 0, failedPolls: 0, markedFailed: 0 };
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  /** True when the last claim took every free slot: more may be due as soon as one frees. */
  private backlog = false;
  private kindFirst = 0;
  private ticking = false;
  /** A tick was asked for while one was running: run the next one at once. */
  private tickAgain = false;
  private readonly inFlight = new Set<Promise<void>>();
  private budget: PollBudget | null = null;
  private abort: AbortController | null = null;
  private readonly maxTickMs: number;

  constructor(
    private readonly store: Store,
    private readonly providers: ProviderRegistry,
    private readonly intake: Intake,
    private readonly schedule: PollSchedule,
    private readonly options: PollingOptions,
    private readonly logger: Logger,
    private readonly budgetFor: PollBudgetFactory = localPollBudget(options),
  ) {
    this.maxTickMs = Math.min(options.intervalMs, MAX_TICK_MS);
  }

  /** Resumes polling of everything not final (due at once) and keeps polling until `stop`. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    const { signal } = this.abort;
    this.budget = this.budgetFor(signal);
    try {
      const now = new Date();
      let resumed = 0;
      for (const kind of KINDS) resumed += await this.store.polls.resume(kind, now, this.options.intervalMs);
      if (resumed > 0) this.logger.info({ resumed, owner: this.owner }, 'polling resumed');
    } catch (error) {
      this.logger.error({ err: error }, 'could not resume polling');
    }
    this.scheduleTick(0);
  }

  /** Stops claiming, waits (bounded) for polls in flight, and releases every lease it holds. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
    // Polls still waiting for budget give up now; their leases are released as they unwind.
    this.abort?.abort(new Error('poller stopped'));
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((resolve) => {
        timeout = setTimeout(resolve, this.options.stopTimeoutMs);
      }),
    ]);
    clearTimeout(timeout);
    try {
      const released = await this.store.polls.releaseLeases(this.owner);
      if (released > 0) this.logger.info({ released }, 'poll leases released');
    } catch (error) {
      this.logger.error({ err: error }, 'could not release poll leases');
    }
    await this.budget?.close?.();
  }

  /** Polls in flight right now (for health and tests). */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  private scheduleTick(delayMs: number): void {
    if (!this.running) return;
    const at = Date.now() + delayMs;
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  /** Claims what is due, and sleeps until the next due time. */
  private async tick(): Promise<void> {
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
    if (!this.running) return;
    // The store answers asynchronously: one tick at a time, so two never share out the same free slots.
    if (this.ticking) {
      this.tickAgain = true;
      return;
    }
    this.ticking = true;
    let delay = this.maxTickMs;
    try {
      const now = new Date();
      let free = this.options.concurrency - this.inFlight.size;
      if (free > 0) {
        const providers = this.providersWithBudget();
        const leaseUntil = new Date(now.getTime() + this.options.leaseMs);
        // Alternate which kind claims first, so neither starves the other of slots.
        this.kindFirst = 1 - this.kindFirst;
        const kinds = this.kindFirst ? KINDS : [...KINDS].reverse();
        for (const kind of kinds) {
          if (free <= 0) break;
          const claims = await this.store.polls.claimDue(kind, {
            owner: this.owner,
            now,
            leaseUntil,
            limit: free,
            providers,
          });
          free -= claims.length;
          for (const claim of claims) this.launch(claim);
        }
      }
      this.backlog = free <= 0;
      delay = await this.untilNextDue(now);
    } catch (error) {
      this.logger.error({ err: error }, 'poll tick failed');
    }
    this.ticking = false;
    if (this.tickAgain) delay = 0;
    this.tickAgain = false;
    this.scheduleTick(delay);
  }

  /** Providers whose budget has room now; undefined when all have (no filter needed). */
  private providersWithBudget(): ProviderId[] | undefined {
    const ready = PROVIDERS.filter((id) => (this.budget?.waiting(id) ?? 0) === 0);
    return ready.length === PROVIDERS.length ? undefined : ready;
  }

  private async untilNextDue(now: Date): Promise<number> {
    let next = Number.POSITIVE_INFINITY;
    for (const kind of KINDS) {
      const at = await this.store.polls.nextDue(kind, now);
      if (at) next = Math.min(next, at.getTime());
    }
    return Math.min(this.maxTickMs, Math.max(MIN_TICK_MS, next - now.getTime()));
  }

  private launch(claim: PollClaim): void {
    const poll = this.poll(claim)
      .catch((error: unknown) => this.logger.error({ err: error, streamId: claim.id }, 'poll failed unexpectedly'))
      .finally(() => {
        this.inFlight.delete(poll);
        if (this.backlog) this.scheduleTick(0);
      });
    this.inFlight.add(poll);
  }

  private async poll(claim: PollClaim): Promise<void> {
    const { kind } = claim;
    const stuckForMs = Date.now() - claim.updatedAt.getTime();
    const stuck = TRANSITIONAL[kind].has(claim.status) && stuckForMs >= this.options.stuckAfterMs;
    let vendorWaitMs = 0;
    try {
      if (!claim.externalId) {
        // Nothing to read the vendor by: the start call has not answered (or never will, if the
        // process that sent it died). Past the deadline the stream can not be anything but lost.
        if (claim.status === 'STARTING' && stuck) {
          await this.markFailed(
            claim,
            'START_UNANSWERED',
            `The start call to ${claim.provider} never answered: still STARTING without a vendor id after ${seconds(stuckForMs)}`,
          );
        }
        return;
      }
      const provider = this.providers.get(claim.provider);
      if (!provider.configured) return;
      await this.budget?.take(claim.provider);
      if (!this.running) return;
      const ref: StreamRef = {
        id: claim.id,
        roomId: claim.roomId,
        externalId: claim.externalId,
        sessionId: claim.sessionId,
        status: claim.status,
      };
      this.stats.polls += 1;
      recent.budgetTaken(claim.provider);
      const observation =
        kind === 'livestream' ? await provider.fetchLivestream(ref) : await provider.fetchRecording(ref);
      countPoll(claim.provider, observation ? 'observed' : 'not_found');
      if (observation) {
        await this.intake.observed(kind, claim.id, observation);
      } else if (stuck) {
        await this.markFailed(
          claim,
          'NOT_FOUND',
          `${claim.provider} no longer knows this ${kind}: it was ${claim.status} for ${seconds(stuckForMs)}`,
        );
      }
    } catch (error) {
      if (!this.running && this.abort?.signal.aborted) return;
      this.stats.failedPolls += 1;
      countPoll(claim.provider, 'failed');
      vendorWaitMs = retryAfterOf(error);
      this.logger.warn({ err: error, kind, streamId: claim.id, provider: claim.provider }, 'poll failed');
    } finally {
      await this.finish(claim, vendorWaitMs);
    }
  }

  /** Fails a stuck stream, unless something moved it since it was claimed. */
  private async markFailed(claim: PollClaim, vendorStatus: string, reason: string): Promise<void> {
    // Checked and failed in one transaction, so a change landing in between (the start's
    // answer) is seen by the check.
    const result = await this.store.transaction(async () => {
      const current = await this.store.streams.get(claim.kind, claim.id);
      if (!current || current.version !== claim.version) return undefined;
      const observation: VendorObservation = { status: 'FAILED', vendorStatus, failureReason: reason };
      return this.intake.observed(claim.kind, claim.id, observation, {
        reason,
        previousStatus: claim.status,
        poller: this.owner,
      });
    });
    if (result?.changed) {
      this.stats.markedFailed += 1;
      this.logger.warn(
        { kind: claim.kind, streamId: claim.id, provider: claim.provider, reason },
        'stuck stream failed',
      );
    }
  }

  /**
   * Writes the next due time (reset after a change, else backed off, and never before a rate
   * limiting vendor's `Retry-After` has passed) and releases the lease.
   */
  private async finish(claim: PollClaim, vendorWaitMs: number): Promise<void> {
    const base = this.options.intervalMs;
    const current = await this.store.streams.get(claim.kind, claim.id);
    const changed = !current || current.version !== claim.version;
    const previous = claim.pollIntervalMs ?? base;
    const intervalMs = changed ? base : Math.min(this.options.maxIntervalMs, Math.max(base, previous * 2));
    const at = new Date(Date.now() + Math.max(this.schedule.jittered(intervalMs), vendorWaitMs));
    if (!(await this.store.polls.finish(claim.kind, claim.id, this.owner, { at, intervalMs }))) {
      this.logger.warn({ kind: claim.kind, streamId: claim.id }, 'poll lease was lost before the poll finished');
    }
  }
}

/** How long a vendor that refused a read as rate limited asked us to wait (0 when it did not say). */
function retryAfterOf(error: unknown): number {
  return error instanceof ProviderError && error.code === 'RATE_LIMITED' ? (error.retryAfterMs ?? 0) : 0;
}

function seconds(ms: number): string {
  return ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
}
