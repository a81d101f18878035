import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { StreamKind } from '../domain/status.js';
import type { Store } from '../store/types.js';

export interface RetentionOptions {
  /** Streams final for longer than this lose their history payloads; older deliveries go. */
  days: number;
  /** History rows (or deliveries) per batch: each batch is one short transaction. */
  batchSize: number;
  /** Time between two background runs. */
  intervalMs: number;
}

/** What one run pruned. */
export interface PruneReport {
  /** History rows whose payload and snapshot were dropped. */
  historyRows: number;
  /** Webhook deliveries deleted. */
  deliveries: number;
  /** The highest change-log position pruned so far: cursors below it answer CURSOR_EXPIRED. */
  watermark: number;
}

const DAY_MS = 86_400_000;
const KINDS: readonly StreamKind[] = ['livestream', 'recording'];
/** The first background run waits this long (at most) after boot, out of the way of starting up. */
const FIRST_RUN_DELAY_MS = 60_000;

/**
 * Retention (design.md, "Operating it"): prunes history payloads of streams final for more than
 * `days` and webhook deliveries older than that, in small batches, each its own short
 * transaction, yielding to the event loop between two, so webhooks and queries go on while it
 * runs. In the background every `intervalMs` (`start`), and by hand (`run`, the prune command).
 */
export class Pruner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PruneReport> | undefined;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly options: RetentionOptions,
    private readonly logger: Logger,
  ) {}

  /** Runs soon after boot, then every `intervalMs` until `stop`. */
  start(): void {
    this.stopped = false;
    // Whatever the store needs for its batches, readied now rather than inside the first run,
    // where webhooks may be arriving (SQLite: the checkpoint thread's boot).
    void this.store.retention.prepare?.();
    this.schedule(Math.min(this.options.intervalMs, FIRST_RUN_DELAY_MS));
  }

  /** Stops the schedule and lets a batch in progress finish (a run stops between two batches). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /**
   * Prunes everything older than `olderThanMs` (default: `days`), batch after batch until nothing
   * is left. One run at a time: a second caller shares the run in progress.
   */
  run(olderThanMs = this.options.days * DAY_MS): Promise<PruneReport> {
    this.running ??= this.prune(olderThanMs).finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.run()
        .then((report) => {
          if (report.historyRows > 0 || report.deliveries > 0) this.logger.info({ retention: report }, 'pruned');
        })
        .catch((error: unknown) => this.logger.error({ err: error }, 'retention pruning failed'))
        .finally(() => this.schedule(this.options.intervalMs));
    }, delayMs);
    this.timer.unref();
  }

  private async prune(olderThanMs: number): Promise<PruneReport> {
    const now = new Date();
    const request = { before: new Date(now.getTime() - olderThanMs), limit: this.options.batchSize, now };
    const report: PruneReport = { historyRows: 0, deliveries: 0, watermark: 0 };
    for (const kind of KINDS) {
      for (;;) {
        if (this.stopped) return report;
        const batch = await this.store.retention.pruneHistory(kind, request);
        report.historyRows += batch.pruned;
        if (batch.done) break;
        await yieldToEventLoop();
      }
    }
    for (;;) {
      if (this.stopped) return report;
      const batch = await this.store.retention.pruneDeliveries(request);
      report.deliveries += batch.pruned;
      if (batch.done) break;
      await yieldToEventLoop();
    }
    report.watermark = await this.store.retention.watermark();
    return report;
  }
}
