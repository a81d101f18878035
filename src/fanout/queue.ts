// One subscription to one topic of the change hub (src/events.ts) as an async iterator, shaped for
// tens of thousands of idle subscriptions: see src/fanout/index.ts.

/** A topic and its listeners. */
export interface Topic<C> {
  readonly name: string;
  readonly listeners: Set<TopicListener<C>>;
}

/** What a topic delivers each change to. */
export interface TopicListener<C> {
  deliver(change: C): void;
}

/** The hub a queue listens on (`StreamEvents`). */
export interface ChangeHub<C> {
  readonly isClosed: boolean;
  listen(name: string, listener: TopicListener<C>): Topic<C>;
  unlisten(topic: Topic<C>, listener: TopicListener<C>): void;
}

/**
 * What one connection holds for its consumer, told of every value queued for it and of every
 * value it hands out (see `SocketAdapter` in graphql-ws.ts, which closes a slow consumer).
 */
export interface Backlog {
  queued(delta: number): void;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/**
 * An async iterator that can also hand out, without a promise, a value it already holds: a
 * consumer taking a burst (a replay's page) takes it in one go rather than one microtask (and two
 * promises) per value (bench/README.md, "Catch-up", 2026-12-05 session).
 */
export interface ReadyIterator<T> extends AsyncIterator<T> {
  /**
   * What `next()` would settle with, when a value is already held (a promise only if its mapping
   * is asynchronous); `undefined` when nothing is held: then call `next()`.
   */
  takeReady(): IteratorResult<T> | Promise<IteratorResult<T>> | undefined;
}

/**
 * A consumer that maps each result it pulls from a `ChangeQueue` (see `ChangeQueue.mapWith`).
 */
export interface QueueMapper<T> {
  /**
   * What a pull answers for this result (a value or a promise of one). A result that is not done
   * is the queue's own, made for this pull: the mapper may answer it with its `value` replaced.
   */
  mapResult(result: IteratorResult<T>): unknown;
  /** What a pull rejects with when the queue failed with `error`. */
  mapError(error: unknown): unknown;
}

/**
 * One subscription to one topic as an async iterator: changes queue until the consumer pulls them.
 * `accept` decides what a change becomes for the consumer (`undefined` skips it); subclasses
 * narrow or map it (see schema/watch.ts). One object per subscription, no closures.
 */
export class ChangeQueue<T, C = T> implements AsyncIterableIterator<T>, ReadyIterator<T>, TopicListener<C> {
  private readonly topic: Topic<C>;
  /** Told of what this queue holds (the connection's slow-consumer bound). */
  private backlog: Backlog | null = null;
  private queue: T[] | null = null;
  private wake: ((result: IteratorResult<T> | Promise<IteratorResult<T>>) => void) | null = null;
  private failure: unknown;
  private mapper: QueueMapper<T> | null = null;
  protected done = false;

  constructor(
    protected readonly events: ChangeHub<C>,
    topic: string,
    private readonly signal?: AbortSignal,
  ) {
    this.topic = events.listen(topic, this);
    if (events.isClosed) this.finish();
    else if (signal) {
      if (signal.aborted) this.finish();
      else signal.addEventListener('abort', this, { once: true });
    }
  }

  /**
   * Makes each pull answer `mapper`'s mapping of its result: a consumer that maps what it pulls
   * (subscription-execution.ts) then needs no promise and no callbacks of its own per pull, which
   * an idle subscription would hold for its whole life.
   */
  mapWith(mapper: QueueMapper<T>): void {
    this.mapper = mapper;
  }

  /** A result as the consumer receives it: mapped, if a mapper is set (a mapper's throw rejects). */
  private out(result: IteratorResult<T>): IteratorResult<T> | Promise<IteratorResult<T>> {
    const mapper = this.mapper;
    if (!mapper) return result;
    try {
      return mapper.mapResult(result) as IteratorResult<T> | Promise<IteratorResult<T>>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** How many values wait for the consumer to pull them. */
  protected get queuedCount(): number {
    return this.queue?.length ?? 0;
  }

  /** Maps a published change to what the consumer receives; `undefined` drops it. */
  protected accept(change: C): T | undefined {
    return change as unknown as T;
  }

  /** Counts what this queue holds against `backlog` from now on. */
  countIn(backlog: Backlog | null | undefined): void {
    if (!backlog) return;
    this.backlog = backlog;
    if (this.queue?.length) backlog.queued(this.queue.length);
  }

  deliver(change: C): void {
    if (this.done) return;
    const value = this.accept(change);
    if (value === undefined) return;
    this.push(value);
  }

  /** Queues a value for the consumer (or hands it over if the consumer is waiting). */
  protected push(value: T): void {
    const wake = this.wake;
    if (wake) {
      this.wake = null;
      wake(this.out({ value, done: false }));
    } else {
      this.queue ??= [];
      this.queue.push(value);
      this.backlog?.queued(1);
    }
  }

  /** The hub shut down. */
  closed(): void {
    this.finish();
  }

  /** `abort` of the signal (EventListener object form: no closure per subscription). */
  handleEvent(): void {
    this.finish();
  }

  takeReady(): IteratorResult<T> | Promise<IteratorResult<T>> | undefined {
    const queued = this.queue?.shift();
    if (queued === undefined) return undefined;
    this.backlog?.queued(-1);
    return this.out({ value: queued, done: false });
  }

  next(): Promise<IteratorResult<T>> {
    const ready = this.takeReady();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.failure !== undefined) {
      const failure = this.failure;
      this.failure = undefined;
      return Promise.reject(this.mapper ? this.mapper.mapError(failure) : failure);
    }
    if (this.done) return Promise.resolve(this.out(DONE));
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.finish();
    return Promise.resolve(DONE);
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    this.finish();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Stops listening and drops what is queued; a consumer waiting for a value is told it is done. */
  protected finish(): void {
    this.drop();
    this.failure = undefined;
    this.complete();
  }

  /** Stops listening; what is already queued is still handed out, then the iterator is done. */
  protected complete(): void {
    if (!this.done) {
      this.done = true;
      this.events.unlisten(this.topic, this);
      this.signal?.removeEventListener('abort', this);
    }
    const wake = this.wake;
    if (wake && !this.queue?.length) {
      this.wake = null;
      wake(this.out(DONE));
    }
  }

  /** Stops listening; the consumer's next pull rejects with `error`, then the iterator is done. */
  protected fail(error: unknown): void {
    this.drop();
    // A consumer already waiting (the failure came from an asynchronous read) is rejected now.
    const wake = this.wake;
    this.wake = null;
    if (!wake) this.failure = error;
    this.complete();
    wake?.(Promise.reject(this.mapper ? this.mapper.mapError(error) : error));
  }

  private drop(): void {
    if (this.queue?.length) this.backlog?.queued(-this.queue.length);
    this.queue = null;
  }
}
