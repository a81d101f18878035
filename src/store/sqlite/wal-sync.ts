import { closeSync, fdatasync, openSync } from 'node:fs';
import { StoreUnavailableError } from '../../domain/errors.js';

/**
 * Makes the write-ahead log durable off the event loop: `fdatasync` of the `-wal` file on libuv's
 * thread pool. The group commit commits with `synchronous=NORMAL` (no flush inside COMMIT, which
 * would block the event loop for the whole flush) and answers only once `sync()` settles, so the
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
  /** The flush running now, if any. */
  private running: Promise<void> | null = null;
  /** The flush that starts once the running one ends, shared by everyone who asked since. */
  private queued: Promise<void> | null = null;

  /** `walPath`: the database's `-wal` file; null for a database without one (`:memory:`). */
  constructor(private readonly walPath: string | null) {}

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
