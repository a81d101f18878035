import type { Logger } from 'pino';
import type { ChangePublisher, StreamChange } from '../events.js';
import { markCommittedAt } from '../observability/metrics.js';
import type { Store } from '../store/types.js';
import type { ChangeSignal } from './change-signal.js';

export interface ChangeTailerOptions {
  /** Longest wait between two reads of the log when no signal wakes the tailer (Redis down or absent). */
  pollMs: number;
  /** Changes read at once (both kinds). */
  pageSize: number;
}

const DEFAULTS: ChangeTailerOptions = { pollMs: 500, pageSize: 500 };

/**
 * A replica's one reader of the change log: it hands every committed change, from whichever
 * replica, to this replica's subscribers (`events`), in position order, each once.
 *
 * It keeps the position it last delivered and reads `changes.tail` after it (both kinds): the store
 * makes applied positions visible in position order, so what it reads is never followed by a
 * smaller position appearing later, and nothing is skipped or read twice. A local commit is
 * not published directly (it would reach local subscribers twice, or ahead of a smaller position
 * committed elsewhere): `publish` signals it through Redis to every replica and wakes this
 * tailer at once. The signal only wakes; without it (Redis down or absent) the log is read every
 * `pollMs`, so Redis speeds delivery up but losing it loses nothing.
 */
export class ChangeTailer implements ChangePublisher {
  private readonly options: ChangeTailerOptions;
  private position = 0;
  private readonly readListeners = new Set<(position: number) => void>();
  private running = false;
  private reading: Promise<void> | null = null;
  /** A wake came while reading: read once more after. */
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private failing = false;
  /** Highest position signalled (by this replica's commits or through Redis). */
  private signalled = 0;
  /** Every position up to this one is delivered: a read that started after its signal finished. */
  private covered = 0;
  /** What the read in flight covers once it finishes (`signalled` when it started). */
  private readingCovers = 0;
  /** Highest position this replica committed since the last turn of the event loop, not yet announced. */
  private localPending = 0;

  constructor(
    private readonly store: Store,
    private readonly events: ChangePublisher,
    private readonly signal: ChangeSignal | null,
    private readonly logger: Logger,
    options: Partial<ChangeTailerOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** Starts at the head of the log: changes committed from now on are delivered. */
  async start(): Promise<void> {
    if (this.running) return;
    this.position = await this.store.changes.head();
    this.running = true;
    this.unsubscribe = this.signal?.onChange((position) => this.wake(position)) ?? null;
    this.arm();
  }

  /** Stops reading; a read in flight finishes first. */
  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.reading;
  }

  /**
   * A change this replica committed: every replica (this one included) reads it from the log.
   * A group commit publishes its members one after another in one turn of the event loop: they
   * are announced together at its end, one Redis signal and one read of the log for the group
   * rather than one each (and a second read for those arriving during the first).
   */
  publish(change: StreamChange): void {
    const first = this.localPending === 0;
    this.localPending = Math.max(this.localPending, change.stream.changePosition);
    if (first) queueMicrotask(() => this.announce());
  }

  private announce(): void {
    const position = this.localPending;
    this.localPending = 0;
    this.signal?.publish(position);
    this.wake(position);
  }

  /** Calls `listener` with the highest position read after each read that found changes. */
  onRead(listener: (position: number) => void): () => void {
    this.readListeners.add(listener);
    return () => this.readListeners.delete(listener);
  }

  /**
   * Reads the log now (or once more right after the read in flight). A `position` signalled is
   * committed, so is every smaller one (they commit in position order): a read that started after
   * the signal reads them all, and a signal already covered by one (this replica's own signal
   * coming back through Redis, typically) needs no read. Without a position, it always reads.
   */
  wake(position: number | null = null): void {
    if (!this.running) return;
    if (position !== null) {
      if (position <= this.covered || (this.reading && position <= this.readingCovers)) return;
      this.signalled = Math.max(this.signalled, position);
    }
    if (this.reading) {
      this.again = true;
      return;
    }
    this.readingCovers = this.signalled;
    this.reading = this.readAll().finally(() => {
      this.reading = null;
      if (!this.running) return;
      if (this.again) {
        this.again = false;
        this.wake();
      } else {
        this.arm();
      }
    });
  }

  /** The next read without a signal, `pollMs` after the last one. */
  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.wake(), this.options.pollMs);
    this.timer.unref();
  }

  private async readAll(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    try {
      const highest = await this.readLog();
      if (this.failing) this.logger.info('change log readable again: delivering to subscribers');
      this.failing = false;
      this.covered = Math.max(this.covered, this.readingCovers);
      if (highest > 0) for (const listener of this.readListeners) listener(highest);
    } catch (error) {
      // The database is unreachable: the next poll retries from the same position.
      if (!this.failing) this.logger.error({ err: error }, 'reading the change log failed; retrying');
      this.failing = true;
    }
  }

  /** Delivers every change after the position; answers the highest delivered (0 if none). */
  private async readLog(): Promise<number> {
    let highest = 0;
    for (;;) {
      const page = await this.store.changes.tail(this.position, this.options.pageSize);
      for (const change of page) {
        this.position = change.position;
        highest = change.position;
        markCommittedAt(change.stream, change.stream.updatedAt);
        const { kind, stream } = change;
        this.events.publish({ kind, stream, created: stream.version === 1 });
      }
      if (page.length < this.options.pageSize || !this.running) return highest;
    }
  }
}
