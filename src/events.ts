import type { ProviderId, StreamKind } from './domain/status.js';
import type { RecordOf } from './domain/types.js';
import { ChangeQueue, type TopicListener as QueueListener, type Topic as QueueTopic } from './fanout/queue.js';

/** A committed change of one stream, published after its transaction. */
export interface StreamChange<K extends StreamKind = StreamKind> {
  kind: K;
  stream: RecordOf<K>;
  /** True for the first publication of a newly created stream. */
  created: boolean;
}

/** Where the lifecycle hands each committed change: the in-process hub, or a replica's change-log tailer. */
export interface ChangePublisher {
  publish(change: StreamChange): void;
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
export type Topic = QueueTopic<StreamChange>;

/** What a topic delivers each change to. */
export type TopicListener = QueueListener<StreamChange>;

/**
 * Typed in-process pub/sub. `subscribe` and `listen` register synchronously, so a caller can
 * subscribe, then read a snapshot, and miss nothing published in between.
 *
 * There may be tens of thousands of subscriptions open at once, so each is one small object (no
 * closures), and a change is handed to each listener of its topics as the same object.
 */
export class StreamEvents implements ChangePublisher {
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
    return new ChangeQueue<StreamChange, StreamChange>(this, topic, signal);
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
