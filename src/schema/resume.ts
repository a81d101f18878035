import { GraphQLError } from 'graphql';
import { isFinal, type StreamKind } from '../domain/status.js';
import type { RecordOf } from '../domain/types.js';
import type { StreamChange, StreamEvents } from '../events.js';
import { type Backlog, ChangeQueue } from '../fanout/index.js';
import type { ChangeFilter, Store } from '../store/types.js';

/** Changes read from the log at once, and how few may be left queued before the next read. */
const PAGE = 100;
const LOW_WATER = 20;
/**
 * Live changes held while the log is read. Past this they are dropped and the log read once more
 * before going live (they are all in it): what one resuming subscriber holds stays bounded.
 */
const MAX_HELD = 1000;

/**
 * A subscription resumed `after` a change-log position: every matching change committed after it,
 * read from the log in position order, then live changes, with no gap and no duplicate at the seam.
 *
 * It listens before it reads, so nothing committed while it reads is missed: live changes that
 * arrive meanwhile are held, and once the log has nothing more, handed out after it, skipping
 * every position at or below the last one handed out (each change is handed out once, by
 * position). The log is read a page at a time, as the consumer takes them: a resume over a long
 * absence holds one page, not the whole backlog. By id, it completes after a final state.
 */
export class ResumedWatch<K extends StreamKind> extends ChangeQueue<RecordOf<K>, StreamChange> {
  /** Position of the last change handed out (at first, the cursor). */
  private position: number;
  private catchingUp = true;
  private reading = false;
  /** Live changes published while catching up (null: more than MAX_HELD came, some were dropped). */
  private held: RecordOf<K>[] | null = [];

  constructor(
    private readonly store: Store,
    events: StreamEvents,
    private readonly kind: K,
    private readonly filter: ChangeFilter,
    private readonly cursor: number,
    topic: string,
    backlog: Backlog | undefined,
  ) {
    // Listen first, then read the log.
    super(events, topic);
    // What it queues counts in the connection's slow-consumer bound (live changes it holds while
    // reading the log are bounded by MAX_HELD instead).
    this.countIn(backlog);
    this.position = cursor;
    if (!this.done) void this.read();
  }

  override deliver(change: StreamChange): void {
    if (this.done) return;
    const stream = change.stream as RecordOf<K>;
    if (!this.catchingUp) {
      this.hand(stream);
      return;
    }
    if (this.held && this.held.length < MAX_HELD) this.held.push(stream);
    else this.held = null;
  }

  override next(): Promise<IteratorResult<RecordOf<K>>> {
    this.readOnIfLow();
    return super.next();
  }

  override takeReady(): IteratorResult<RecordOf<K>> | Promise<IteratorResult<RecordOf<K>>> | undefined {
    this.readOnIfLow();
    return super.takeReady();
  }

  private readOnIfLow(): void {
    if (this.catchingUp && !this.reading && this.queuedCount <= LOW_WATER) void this.read();
  }

  /**
   * Hands out one change, unless it was already (by position: the record's, which a change read
   * from the log has too, without its record being made: store/logged-record.ts).
   */
  private hand(stream: RecordOf<K>, position = stream.changePosition): void {
    if (this.done || position <= this.position) return;
    this.position = position;
    this.push(stream);
    if (this.filter.id && isFinal(this.kind, stream.status)) this.complete();
  }

  /** Reads the log from the last position handed out, page by page while the consumer keeps up. */
  private async read(): Promise<void> {
    this.reading = true;
    try {
      while (!this.done && this.catchingUp) {
        // A long replay gives way to everything else the process serves between two pages (the
        // first page goes at once).
        if (this.position !== this.cursor) await new Promise((resolve) => setImmediate(resolve));
        if (this.done) return;
        // Only changes dropped from `held` from now on need another read to be found.
        this.held ??= [];
        const page = await this.store.changes.after(this.kind, this.filter, this.position, PAGE);
        for (const change of page) this.hand(change.stream, change.position);
        if (this.done) return;
        if (page.length === PAGE) {
          if (this.queuedCount > LOW_WATER) return; // the next pull reads on
          continue;
        }
        if (!this.held) continue;
        // The log has nothing more: what was held since the read began covers the rest.
        this.catchingUp = false;
        const held = this.held.sort((a, b) => a.changePosition - b.changePosition);
        this.held = null;
        for (const stream of held) this.hand(stream);
      }
    } catch (error) {
      this.fail(error);
    } finally {
      this.reading = false;
    }
  }
}

/** A cursor of a stream already at a final state: such a subscription by id completes at once. */
export async function alreadyFinal(store: Store, kind: StreamKind, id: string, after: number): Promise<boolean> {
  const current = await store.streams.get(kind, id);
  if (!current) throw new GraphQLError(`No ${kind} with id ${id}`, { extensions: { code: 'NOT_FOUND' } });
  return isFinal(kind, current.status) && current.changePosition <= after;
}
