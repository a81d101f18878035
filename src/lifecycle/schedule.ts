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
  constructor(private readonly options: PollScheduleOptions) {}

  /** Where a stream that just changed to `status` stands: one base interval away, or out when final. */
  afterChange(kind: StreamKind, status: string, now: Date): PollSlot {
    if (!polledStatuses(kind).includes(status)) return { nextPollAt: null, pollIntervalMs: null };
    const intervalMs = this.options.intervalMs;
    return { nextPollAt: new Date(now.getTime() + this.jittered(intervalMs)), pollIntervalMs: intervalMs };
  }

  /** `ms` spread by ± the configured jitter, so streams started together drift apart. */
  jittered(ms: number): number {
    const spread = this.options.jitter * (2 * Math.random() - 1);
    return Math.max(0, Math.round(ms * (1 + spread)));
  }
}
