import type { Logger } from 'pino';
import type { ChangePublisher, StreamChange } from '../events.js';
import { markCommittedAt } from '../observability/metrics.js';
import type { LocalCommit, Store } from '../store/types.js';
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
  /** This replica's changes published since the last turn of the event loop, not yet announced. */
  private localChanges: StreamChange[] = [];
  /** This replica's group commits heard (`Store.onLocalCommit`) whose changes are not delivered yet. */
  private localCommits: LocalCommit[] = [];
  private unlisten: (() => void) | null = null;

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
    this.unlisten = this.store.onLocalCommit?.((commit) => this.localCommits.push(commit)) ?? null;
    this.arm();
  }

  /** Stops reading; a read in flight finishes first. */
  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.unlisten?.();
    this.unlisten = null;
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
    this.localChanges.push(change);
    if (first) queueMicrotask(() => this.announce());
  }

  private announce(): void {
    const position = this.localPending;
    const changes = this.localChanges;
    this.localPending = 0;
    this.localChanges = [];
    this.signal?.publish(position);
    if (!this.deliverLocal(changes)) this.wake(position);
  }

  /**
   * Delivers this replica's own group commits without reading them back from the log, when that
   * gives exactly what the read would: no read in flight, and the changes are the groups' whole
   * output chained from the position delivered last (the first group's head is that position, each
   * next one's head the previous one's last position). A group holds the change-log lock from before
   * it reads the head to its commit, so no other applied position lies between (a refused report's
   * or a rolled-back group's burnt position is never applied). Anything else (a change of a
   * transaction of its own, another replica's commit in between, a read in flight) reads the log as
   * before. The read after each group commit was a statement, a pool checkout and every snapshot
   * parsed again: bench/README.md, "PostgreSQL intake, 2026-12-06, evening session".
   */
  private deliverLocal(changes: StreamChange[]): boolean {
    // Groups whose changes were delivered by a read are of no more use.
    this.localCommits = this.localCommits.filter((commit) => (commit.positions.at(-1) ?? 0) > this.position);
    if (this.reading || !this.running || changes.length === 0 || this.localCommits.length === 0) return false;
    changes.sort((a, b) => a.stream.changePosition - b.stream.changePosition);
    const used = new Set<LocalCommit>();
    let at = this.position;
    for (let i = 0; i < changes.length; ) {
      const commit = this.localCommits.find((c) => c.head === at && !used.has(c));
      if (!commit) return false;
      for (const position of commit.positions) {
        if (changes[i]?.stream.changePosition !== position) return false;
        i++;
      }
      used.add(commit);
      at = commit.positions.at(-1) ?? at;
    }
    this.localCommits = this.localCommits.filter((commit) => !used.has(commit));
    for (const { kind, stream, created } of changes) this.events.publish({ kind, stream, created });
    this.position = at;
    this.covered = Math.max(this.covered, at);
    for (const listener of this.readListeners) listener(at);
    // Another replica's commit signalled meanwhile is still to be read.
    if (this.signalled > this.covered) this.wake();
    return true;
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
