import type { Logger } from 'pino';
import type { StreamKind } from '../domain/status.js';
import type { ChangePublisher, StreamChange } from '../events.js';
import { markCommittedAt } from '../observability/metrics.js';
import type { Store } from '../store/types.js';
import type { ChangeSignal } from './change-signal.js';

const KINDS: readonly StreamKind[] = ['livestream', 'recording'];

export interface ChangeTailerOptions {
  /** Longest wait between two reads of the log when no signal wakes the tailer (Redis down or absent). */
  pollMs: number;
  /** Changes read at once per kind. */
  pageSize: number;
}

const DEFAULTS: ChangeTailerOptions = { pollMs: 500, pageSize: 500 };

/**
 * A replica's one reader of the change log: it hands every committed change, from whichever
 * replica, to this replica's subscribers (`events`), in position order, each once.
 *
 * It keeps the position it last delivered, per kind, and reads `changes.after` it: the store
 * makes applied positions visible in position order, so what it reads is never followed by a
 * smaller position appearing later, and nothing is skipped or read twice. A local commit is
 * not published directly (it would reach local subscribers twice, or ahead of a smaller position
 * committed elsewhere): `publish` signals it through Redis to every replica and wakes this
 * tailer at once. The signal only wakes; without it (Redis down or absent) the log is read every
 * `pollMs`, so Redis speeds delivery up but losing it loses nothing.
 */
export class ChangeTailer implements ChangePublisher {
  private readonly options: ChangeTailerOptions;
  private readonly positions = new Map<StreamKind, number>();
  private readonly readListeners = new Set<(position: number) => void>();
  private running = false;
  private reading: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private failing = false;
  /**
   * Kinds to read at the next read, each with the highest position signalled for it: a signalled
   * position is committed, so is every smaller one (they commit in position order), and a read
   * that starts after the signal reads them all.
   */
  private readonly due = new Map<StreamKind, number>();
  /** The kinds the read in flight reads, with what it covers once it finishes. */
  private readingCovers = new Map<StreamKind, number>();
  /** Per kind, every position up to this one is delivered (a read that started after its signal finished). */
  private readonly covered = new Map<StreamKind, number>();
  /** This replica's commits since the last turn of the event loop, not yet announced: highest position, kinds. */
  private localPending = 0;
  private readonly localKinds = new Set<StreamKind>();

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
    const head = await this.store.changes.head();
    for (const kind of KINDS) this.positions.set(kind, head);
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
    this.localKinds.add(change.kind);
    if (first) queueMicrotask(() => this.announce());
  }

  /** Only the kinds this replica changed are read for its own commits (a Redis signal carries no kind). */
  private announce(): void {
    const position = this.localPending;
    const kinds = [...this.localKinds];
    this.localPending = 0;
    this.localKinds.clear();
    this.signal?.publish(position);
    this.wake(position, kinds);
  }

  /** Calls `listener` with the highest position read after each read that found changes. */
  onRead(listener: (position: number) => void): () => void {
    this.readListeners.add(listener);
    return () => this.readListeners.delete(listener);
  }

  /**
   * Reads `kinds` of the log now (or right after the read in flight). A signalled `position`
   * that a read started after it covers (this replica's own signal coming back through Redis,
   * typically) needs no read; without a position, it always reads.
   */
  wake(position: number | null = null, kinds: readonly StreamKind[] = KINDS): void {
    if (!this.running) return;
    let needed = false;
    for (const kind of kinds) {
      if (
        position !== null &&
        (position <= (this.covered.get(kind) ?? 0) || position <= (this.readingCovers.get(kind) ?? -1))
      ) {
        continue;
      }
      this.due.set(kind, Math.max(this.due.get(kind) ?? 0, position ?? 0));
      needed = true;
    }
    if (needed) this.read();
  }

  private read(): void {
    if (this.reading || this.due.size === 0) return;
    this.readingCovers = new Map(this.due);
    this.due.clear();
    this.reading = this.readAll([...this.readingCovers.keys()]).finally(() => {
      this.reading = null;
      this.readingCovers = new Map();
      if (!this.running) return;
      if (this.due.size > 0) this.read();
      else if (!this.timer) this.arm();
    });
  }

  /**
   * The next read of every kind without a signal, `pollMs` after the last one (a read of some
   * kinds only does not postpone it: the others may have changes no signal announced).
   */
  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.wake();
    }, this.options.pollMs);
    this.timer.unref();
  }

  private async readAll(kinds: readonly StreamKind[]): Promise<void> {
    if (this.timer && kinds.length === KINDS.length) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    try {
      let highest = 0;
      for (const kind of kinds) highest = Math.max(highest, await this.readKind(kind));
      if (this.failing) this.logger.info('change log readable again: delivering to subscribers');
      this.failing = false;
      for (const [kind, position] of this.readingCovers) {
        this.covered.set(kind, Math.max(this.covered.get(kind) ?? 0, position));
      }
      if (highest > 0) for (const listener of this.readListeners) listener(highest);
    } catch (error) {
      // The database is unreachable: the next poll retries from the same position.
      if (!this.failing) this.logger.error({ err: error }, 'reading the change log failed; retrying');
      this.failing = true;
    }
  }

  /** Delivers every change of `kind` after its position; answers the highest delivered (0 if none). */
  private async readKind(kind: StreamKind): Promise<number> {
    let highest = 0;
    for (;;) {
      const after = this.positions.get(kind) ?? 0;
      const page = await this.store.changes.after(kind, {}, after, this.options.pageSize);
      for (const change of page) {
        this.positions.set(kind, change.position);
        highest = change.position;
        markCommittedAt(change.stream, change.stream.updatedAt);
        this.events.publish({ kind, stream: change.stream, created: change.stream.version === 1 });
      }
      if (page.length < this.options.pageSize || !this.running) return highest;
    }
  }
}
