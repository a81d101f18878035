import { polledStatuses, type StreamKind } from '../domain/status.js';
import type { PollSlot } from '../store/types.js';

export interface PollScheduleOptions {
  /** The base interval between two reads of one stream (POLL_INTERVAL_MS). */
  intervalMs: number;
  /** ± this fraction of spread on every interval (POLL_JITTER_PERCENT / 100). */
  jitter: number;
}

/**
 * When each stream is read from its vendor next. A change from any source (the API, a webhook,
 * a poll) starts a stream's schedule over at the base interval; a final stream leaves it. The
 * slot is written with the change itself, in the same statement, so it costs no write of its own.
 */
export class PollSchedule {
  /** The millisecond of the last change's slot, and the spread drawn for it (see `afterChange`). */
  private drawnAt = Number.NaN;
  private drawn = 0;

  constructor(private readonly options: PollScheduleOptions) {}

  /**
   * Where a stream that just changed to `status` stands: one base interval away (spread by the
   * jitter), or out when final.
   *
   * Changes within one millisecond share one draw of the spread; changes in different
   * milliseconds draw anew. So streams that change apart still drift apart, while the members of
   * one group commit (the deliveries committed together, applied within a millisecond or two)
   * land side by side in the `next_poll_at` index: one index page a group instead of one a
   * member. A draw per change put every member on a random page of the last interval's entries,
   * ≈ 1 log page a delivery, a third of what a webhook writes (bench/README.md, "SQLite intake,
   * 2026-12-06, morning session"; the figures of the change: "…, midday session").
   */
  afterChange(kind: StreamKind, status: string, now: Date): PollSlot {
    if (!polledStatuses(kind).includes(status)) return { nextPollAt: null, pollIntervalMs: null };
    const intervalMs = this.options.intervalMs;
    const at = now.getTime();
    if (at !== this.drawnAt) {
      this.drawnAt = at;
      this.drawn = 2 * Math.random() - 1;
    }
    return { nextPollAt: new Date(at + this.spread(intervalMs, this.drawn)), pollIntervalMs: intervalMs };
  }

  /** `ms` spread by ± the configured jitter, so streams started together drift apart. */
  jittered(ms: number): number {
    return this.spread(ms, 2 * Math.random() - 1);
  }

  /** `ms` spread by `draw` (in [-1, 1]) times the configured jitter. */
  private spread(ms: number, draw: number): number {
    return Math.max(0, Math.round(ms * (1 + this.options.jitter * draw)));
  }
}
