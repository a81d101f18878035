import type { ProviderId, StreamKind } from './domain/status.js';
import type { RecordOf } from './domain/types.js';

/** A committed change of one stream, published after its transaction. */
export interface StreamChange<K extends StreamKind = StreamKind> {
  kind: K;
  stream: RecordOf<K>;
  /** True for the first publication of a newly created stream. */
  created: boolean;
}

export interface StreamTopicFilter {
  id?: string | null;
  provider?: ProviderId | null;
  roomId?: string | null;
}

/**
 * Topic names. A change is published once to each topic that can concern it, and a subscriber
 * listens to exactly one topic, so a change costs work only for the subscribers it concerns.
 */
export function topicFor(kind: StreamKind, filter: StreamTopicFilter): string {
  if (filter.id) return `${kind}:id:${filter.id}`;
  if (filter.roomId && filter.provider) return `${kind}:room:${filter.provider}:${filter.roomId}`;
  if (filter.roomId) return `${kind}:room:*:${filter.roomId}`;
  if (filter.provider) return `${kind}:provider:${filter.provider}`;
  return `${kind}:all`;
}

function topicsOf(change: StreamChange): string[] {
  const { kind, stream } = change;
  return [
    topicFor(kind, { id: stream.id }),
    topicFor(kind, { provider: stream.provider, roomId: stream.roomId }),
    topicFor(kind, { roomId: stream.roomId }),
    topicFor(kind, { provider: stream.provider }),
    topicFor(kind, {}),
  ];
}

/** A topic and its listeners. */
export interface Topic {
  readonly name: string;
  readonly listeners: Set<TopicListener>;
}

/** What a topic delivers each change to. */
export interface TopicListener {
  deliver(change: StreamChange): void;
}

/**
 * Typed in-process pub/sub. `subscribe` and `listen` register synchronously, so a caller can
 * subscribe, then read a snapshot, and miss nothing published in between.
 *
 * There may be tens of thousands of subscriptions open at once, so each is one small object (no
 * closures), and a change is handed to each listener of its topics as the same object.
 */
export class StreamEvents {
  private readonly topics = new Map<string, Topic>();
  private closed = false;

  publish(change: StreamChange): void {
    for (const name of topicsOf(change)) {
      const topic = this.topics.get(name);
      if (!topic) continue;
      for (const listener of topic.listeners) listener.deliver(change);
    }
  }

  /** Number of live subscriptions (for health and tests). */
  get subscriberCount(): number {
    let n = 0;
    for (const topic of this.topics.values()) n += topic.listeners.size;
    return n;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Adds a listener to one topic and answers the topic, which `unlisten` takes back (every
   * listener of a topic shares its one name). A closed hub (see `isClosed`) adds nothing.
   */
  listen(name: string, listener: TopicListener): Topic {
    let topic = this.topics.get(name);
    if (!topic) {
      topic = { name, listeners: new Set() };
      if (!this.closed) this.topics.set(name, topic);
    }
    if (!this.closed) topic.listeners.add(listener);
    return topic;
  }

  unlisten(topic: Topic, listener: TopicListener): void {
    if (!topic.listeners.delete(listener)) return;
    if (topic.listeners.size === 0 && this.topics.get(topic.name) === topic) this.topics.delete(topic.name);
  }

  /**
   * Subscribes to one topic. The iterator ends when the consumer returns, when `signal` aborts,
   * or when the service shuts down.
   */
  subscribe(topic: string, signal?: AbortSignal): AsyncIterableIterator<StreamChange> {
    return new ChangeQueue<StreamChange>(this, topic, signal);
  }

  /** Ends every subscription (graceful shutdown). */
  close(): void {
    this.closed = true;
    const listeners: TopicListener[] = [];
    for (const topic of this.topics.values()) listeners.push(...topic.listeners);
    for (const listener of listeners) (listener as Partial<{ closed(): void }>).closed?.();
    this.topics.clear();
  }
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/**
 * A consumer that maps each result it pulls from a `ChangeQueue` (see `ChangeQueue.mapWith`).
 */
export interface QueueMapper<T> {
  /** What a pull answers for this result (a value or a promise of one). */
  mapResult(result: IteratorResult<T>): unknown;
  /** What a pull rejects with when the queue failed with `error`. */
  mapError(error: unknown): unknown;
}

/**
 * One subscription to one topic as an async iterator: changes queue until the consumer pulls them.
 * `accept` decides what a change becomes for the consumer (`undefined` skips it); subclasses
 * narrow or map it (see schema/watch.ts). One object per subscription, no closures.
 */
export class ChangeQueue<T> implements AsyncIterableIterator<T>, TopicListener {
  private readonly topic: Topic;
  private queue: T[] | null = null;
  private wake: ((result: IteratorResult<T> | Promise<IteratorResult<T>>) => void) | null = null;
  private failure: unknown;
  private mapper: QueueMapper<T> | null = null;
  protected done = false;

  constructor(
    protected readonly events: StreamEvents,
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
  protected accept(change: StreamChange): T | undefined {
    return change as T;
  }

  deliver(change: StreamChange): void {
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

  next(): Promise<IteratorResult<T>> {
    const queued = this.queue?.shift();
    if (queued !== undefined) return Promise.resolve(this.out({ value: queued, done: false }));
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
    this.queue = null;
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
    this.queue = null;
    this.failure = error;
    this.complete();
  }
}
