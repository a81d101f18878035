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

type Listener = (change: StreamChange) => void;

/**
 * Typed in-process pub/sub. `subscribe` registers its listener synchronously, so a caller can
 * subscribe, then read a snapshot, and miss nothing published in between.
 */
export class StreamEvents {
  private readonly topics = new Map<string, Set<Listener>>();
  /** How to end each open subscription, for shutdown. */
  private readonly open = new Set<() => void>();
  private closed = false;

  publish(change: StreamChange): void {
    for (const topic of topicsOf(change)) {
      const listeners = this.topics.get(topic);
      if (!listeners) continue;
      for (const listener of listeners) listener(change);
    }
  }

  /** Number of live subscriptions (for health and tests). */
  get subscriberCount(): number {
    let n = 0;
    for (const set of this.topics.values()) n += set.size;
    return n;
  }

  /**
   * Subscribes to one topic. The iterator ends when the consumer returns, when `signal` aborts,
   * or when the service shuts down.
   */
  subscribe(topic: string, signal?: AbortSignal): AsyncIterableIterator<StreamChange> {
    const queue: StreamChange[] = [];
    let wake: ((result: IteratorResult<StreamChange>) => void) | null = null;
    let done = false;

    const listener: Listener = (change) => {
      if (wake) {
        const resolve = wake;
        wake = null;
        resolve({ value: change, done: false });
      } else {
        queue.push(change);
      }
    };
    const finish = (): IteratorResult<StreamChange> => {
      if (!done) {
        done = true;
        queue.length = 0;
        const set = this.topics.get(topic);
        set?.delete(listener);
        if (set?.size === 0) this.topics.delete(topic);
        this.open.delete(onAbort);
        signal?.removeEventListener('abort', onAbort);
      }
      if (wake) {
        const resolve = wake;
        wake = null;
        resolve({ value: undefined, done: true });
      }
      return { value: undefined, done: true };
    };
    const onAbort = () => finish();

    let set = this.topics.get(topic);
    if (!set) {
      set = new Set();
      this.topics.set(topic, set);
    }
    set.add(listener);
    this.open.add(onAbort);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (this.closed || signal?.aborted) finish();

    return {
      next: () => {
        const value = queue.shift();
        if (value) return Promise.resolve({ value, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          wake = resolve;
        });
      },
      return: () => Promise.resolve(finish()),
      throw: (error?: unknown) => {
        finish();
        return Promise.reject(error);
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  /** Ends every subscription (graceful shutdown). */
  close(): void {
    this.closed = true;
    for (const end of [...this.open]) end();
  }
}
