import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from 'better-sqlite3';
import type { PruneBatch, RetentionStore } from '../types.js';
import type { Checkpointer } from './checkpointer.js';
import type { SqliteTransactions } from './transactions.js';
import type { WalSync } from './wal-sync.js';

/** SQLite's default `wal_autocheckpoint`, which the connection keeps outside a background run. */
const AUTOCHECKPOINT_PAGES = 1000;
/**
 * Background batches between two checkpoints by the worker: a retention batch writes a few dozen
 * to a couple of hundred log pages, so the log stays a few hundred pages long between them.
 */
const CHECKPOINT_EVERY = 3;
/**
 * A run (batch after batch, as the pruner goes) ends this long after its last batch: the pruner's
 * next batch comes within a turn or two of the event loop, so a run is one period, not one per
 * batch.
 */
const RUN_ENDS_AFTER_MS = 250;

/**
 * While the service writes (a group commit began within the last BUSY_WITHIN_MS), batches prune at
 * most this many rows a second: twice the history a busy service writes (≈ 200 rows/s), so pruning
 * keeps ahead of it, while a batch of 500 comes every 1.25 s and about 1% of webhooks at 200/s meet
 * one (its statements on the event loop, its flush before theirs, a checkpoint beside their flush:
 * 57–62% did at full pace). Otherwise a run goes at full speed (bench/README.md, "Retention,
 * 2026-12-06, afternoon session").
 */
const BUSY_ROWS_PER_S = 400;
const BUSY_WITHIN_MS = 1000;

/**
 * Background writes (retention's batches) kept off the event loop's critical path (bench/README.md,
 * "Retention, 2026-12-05 session", "night session" and "2026-12-06 session"):
 *
 * - each batch waits for the service's writers to be done and runs alone, committed like a group
 *   (flushed by `WalSync` off the event loop), never in a webhooks' group, whose members would
 *   wait for its CPU (`SqliteTransactions.runWhenIdle`);
 * - for the whole run, not only while a batch runs, the connection's automatic checkpoint is off
 *   (it runs inside the COMMIT that crosses 1,000 log pages, on the event loop, and between two
 *   batches that COMMIT was a webhook's: a strace showed the event loop copying 50–190 pages and
 *   flushing the database file every second or two of a prune). `Checkpointer`'s thread
 *   checkpoints every CHECKPOINT_EVERY batches and once more when the run ends;
 * - while the service writes, batches are paced (BUSY_ROWS_PER_S), at full speed otherwise;
 * - for the whole run, group commits flush off the event loop (`WalSync.background`): the disk is
 *   shared with the batches' larger flushes and the checkpoints, so a flush inside a webhook's
 *   COMMIT, quick on an idle disk, could block the event loop for tens of milliseconds.
 */
export class BackgroundWrites {
  private batches = 0;
  /** When the next batch may run while the service writes (`BUSY_ROWS_PER_S`). */
  private nextBatchAt = Number.NEGATIVE_INFINITY;
  private running = false;
  private ending: NodeJS.Timeout | undefined;
  /** The end of the last run, while its last checkpoint runs. */
  private ended: Promise<void> = Promise.resolve();

  constructor(
    private readonly transactions: SqliteTransactions,
    private readonly sqlite: Database,
    private readonly wal: WalSync,
    private readonly checkpointer: Checkpointer | null,
  ) {}

  /** Retention's section with each batch run as a background write. */
  retention(retention: RetentionStore): RetentionStore {
    return {
      pruneHistory: (kind, request) => this.batch(() => retention.pruneHistory(kind, request)),
      pruneDeliveries: (request) => this.batch(() => retention.pruneDeliveries(request)),
      watermark: () => retention.watermark(),
      // The thread booted now, not by a run's first checkpoint: see `Checkpointer.prepare`.
      prepare: () => this.checkpointer?.prepare() ?? Promise.resolve(),
    };
  }

  /** Ends a run in progress at once (the store closing). */
  async close(): Promise<void> {
    await this.end();
  }

  private async batch(fn: () => Promise<PruneBatch>): Promise<PruneBatch> {
    const checkpointer = this.checkpointer;
    if (!checkpointer) return this.paced(fn);
    await this.begin();
    try {
      const result = await this.paced(fn);
      if (++this.batches % CHECKPOINT_EVERY === 0) await checkpointer.checkpoint();
      return result;
    } finally {
      clearTimeout(this.ending);
      this.ending = setTimeout(() => void this.end(), RUN_ENDS_AFTER_MS);
      this.ending.unref();
    }
  }

  /** One batch, once the last one's rows are paid for at BUSY_ROWS_PER_S if the service writes. */
  private async paced(fn: () => Promise<PruneBatch>): Promise<PruneBatch> {
    const wait = this.nextBatchAt - performance.now();
    if (wait > 0 && performance.now() - this.transactions.lastGroupAt < BUSY_WITHIN_MS) await sleep(wait);
    const result = await this.transactions.runWhenIdle(fn);
    this.nextBatchAt = performance.now() + (result.pruned / BUSY_ROWS_PER_S) * 1000;
    return result;
  }

  private async begin(): Promise<void> {
    clearTimeout(this.ending);
    this.ending = undefined;
    if (this.running) return;
    // A run that just ended may still be checkpointing: its settings are restored first.
    await this.ended;
    this.running = true;
    this.sqlite.pragma('wal_autocheckpoint = 0');
    this.wal.background = true;
  }

  private end(): Promise<void> {
    clearTimeout(this.ending);
    this.ending = undefined;
    if (!this.running) return this.ended;
    this.running = false;
    // What the last batches wrote is checkpointed by the thread, not by the next webhook's COMMIT.
    this.ended = (this.checkpointer?.checkpoint() ?? Promise.resolve()).then(() => {
      if (this.sqlite.open) this.sqlite.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
      this.wal.background = false;
    });
    return this.ended;
  }
}
