import { closeSync, fdatasync, openSync } from 'node:fs';
import { StoreUnavailableError } from '../../domain/errors.js';

/** A group's COMMIT with its flush kept on the event loop while it takes no longer than this. */
const INLINE_LIMIT_MS = 5;
/** The moving average's weight of each new commit. */
const WEIGHT = 0.1;
const PROBE_INTERVAL_MS = 1000;

/**
 * Makes the write-ahead log durable off the event loop: `fdatasync` of the `-wal` file on libuv's
 * thread pool, for group commits while flushes are slow (`flushInline`). Such a group commits
 * with `synchronous=NORMAL` (no flush inside COMMIT, which would block the event loop for the
 * whole flush) and answers only once `sync()` settles, so the
 * next group's work runs while the disk flushes the previous one (bench/README.md, "Webhook
 * intake, 2026-12-05 session").
 *
 * A flush covers every frame written to the file before it began (fdatasync acts on the file,
 * whichever descriptor asks), so concurrent callers share one: a caller arriving while a flush
 * runs waits for the next one, which starts when the running one ends and serves every caller
 * that arrived meanwhile.
 */
export class WalSync {
  private fd: number | null = null;
  /** Recent group commits flushed inside COMMIT: how long one took (ms, moving average). */
  private inlineMs = 0;
  /** When a group commit is next flushed inside COMMIT to measure the disk again, while off the loop. */
  private nextProbe = 0;
  /** The flush running now, if any. */
  private running: Promise<void> | null = null;
  /** The flush that starts once the running one ends, shared by everyone who asked since. */
  private queued: Promise<void> | null = null;

  /**
   * `walPath`: the database's `-wal` file; null for a database without one (`:memory:`).
   * `inlineLimitMs`: the longest a group's COMMIT with its flush may take on the event loop (0:
   * always flushed here, off it).
   */
  constructor(
    private readonly walPath: string | null,
    private readonly inlineLimitMs = INLINE_LIMIT_MS,
  ) {}

  /**
   * Whether the next group commit flushes inside COMMIT (`synchronous=FULL`, on the event loop)
   * rather than through `sync()`. Inside COMMIT while that has been quick: the hop to libuv's pool
   * and back costs the event loop more than a short flush, and the groups committed while a flush
   * runs elsewhere are smaller, so more commits (bench/README.md, "SQLite intake and its ceiling,
   * 2026-12-05 night session"). Off the loop once flushes are slow (a loaded disk: milliseconds each), with one
   * group a second still flushed inside COMMIT to see whether the disk is quick again.
   */
  flushInline(): boolean {
    if (this.walPath === null || this.inlineLimitMs <= 0 || this.background) return false;
    if (this.inlineMs <= this.inlineLimitMs) return true;
    // Under load a flush nearly always runs here, so a probe waits for it and measures both (at
    // most twice the disk's time): it still tells a quick disk from a slow one.
    const now = performance.now();
    if (now < this.nextProbe) return false;
    this.nextProbe = now + PROBE_INTERVAL_MS;
    return true;
  }

  /**
   * How long a group's COMMIT took with its flush inside (ms). One slow commit (a checkpoint's
   * flush beside it) counts as at most four times the limit; a probe's time replaces the average.
   */
  flushedInline(ms: number): void {
    const sample = Math.min(ms, 4 * this.inlineLimitMs);
    this.inlineMs = this.inlineMs > this.inlineLimitMs ? sample : this.inlineMs + (sample - this.inlineMs) * WEIGHT;
  }

  /**
   * True while background writes run (retention, `BackgroundWrites`): their flushes and
   * checkpoints share the disk, so every group commit flushes off the event loop meanwhile.
   */
  background = false;

  /** True when commits need `sync()` to be durable (a file database). */
  get enabled(): boolean {
    return this.walPath !== null;
  }

  /**
   * The error of a flush that failed, for good. After a failed fsync the kernel may have dropped
   * the pages it could not write and a later flush would succeed without them (PostgreSQL stops
   * on it for that reason): commits SQLite already made visible may not be on disk, so nothing is
   * answered as durable any more: every later call fails `StoreUnavailableError` and `/readyz`
   * answers 503 until the process restarts and SQLite recovers from what the disk really holds.
   */
  failure: StoreUnavailableError | null = null;

  /** Settles once everything written to the log before this call is on disk. */
  sync(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.walPath === null) return Promise.resolve();
    if (!this.running) return this.start();
    this.queued ??= this.running.then(
      () => this.startQueued(),
      () => this.startQueued(),
    );
    return this.queued;
  }

  /** Closes the log's descriptor once the flushes asked for have ended. */
  async close(): Promise<void> {
    while (this.running || this.queued) await Promise.allSettled([this.running, this.queued]);
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private startQueued(): Promise<void> {
    this.queued = null;
    return this.start();
  }

  private start(): Promise<void> {
    // Opened on first use: SQLite creates the log with the first transaction and keeps it while
    // this process's connection is open.
    this.fd ??= openSync(this.walPath as string, 'r+');
    const fd = this.fd;
    const flush = new Promise<void>((resolve, reject) => {
      fdatasync(fd, (error) => {
        if (!error) return resolve();
        this.failure ??= new StoreUnavailableError({ cause: error });
        reject(this.failure);
      });
    });
    this.running = flush;
    const clear = () => {
      if (this.running === flush) this.running = null;
    };
    flush.then(clear, clear);
    return flush;
  }
}
