import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { connectRedis, whenConnected } from './redis.js';

/**
 * "Something committed, up to change-log position p", between replicas, through Redis pub/sub.
 *
 * It carries no change itself: each replica's change-log tailer reads the log in position order
 * and only uses a signal to wake at once instead of at its next poll. So publishing is
 * best-effort (a lost signal only delays delivery to the tailer's poll), never throws into the
 * committing code, and never waits for Redis.
 */
export type ChangeListener = (position: number | null) => void;

export const DEFAULT_CHANGE_CHANNEL = 'livestream-subgraph:changes';

export class ChangeSignal {
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly listeners = new Set<ChangeListener>();
  private subscribedOnce = false;

  constructor(
    url: string,
    logger: Logger,
    private readonly channel = DEFAULT_CHANGE_CHANNEL,
  ) {
    this.publisher = connectRedis(url, 'change-publisher', logger);
    // The subscriber may queue its SUBSCRIBE until connected, and resubscribes after a reconnect.
    this.subscriber = connectRedis(url, 'change-subscriber', logger, { queueWhileDown: true });
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      const position = Number(message);
      if (Number.isSafeInteger(position) && position >= 0) this.emit(position);
    });
    this.subscriber.on('ready', () => {
      // Signals sent while this replica was cut off are lost: tell the tailer to read the log now.
      if (this.subscribedOnce) this.emit(null);
    });
    this.subscriber.subscribe(this.channel).then(
      () => {
        this.subscribedOnce = true;
      },
      () => {},
    );
  }

  /** Tells every replica that changes up to `position` are committed. Never throws, never waits. */
  publish(position: number): void {
    if (this.publisher.status !== 'ready') return;
    this.publisher.publish(this.channel, String(position)).catch(() => {});
  }

  /**
   * Calls `listener` with each position another replica (or this one) committed, and with `null`
   * after a reconnection (signals may have been missed meanwhile). Returns the unsubscribe.
   */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Both connections are up and listening (false while Redis is unreachable). */
  get connected(): boolean {
    return this.publisher.status === 'ready' && this.subscriber.status === 'ready' && this.subscribedOnce;
  }

  /** Waits (bounded) until both connections are up; false when Redis did not answer in time. */
  async whenConnected(timeoutMs = 2000): Promise<boolean> {
    const [publisher, subscriber] = await Promise.all([
      whenConnected(this.publisher, timeoutMs),
      whenConnected(this.subscriber, timeoutMs),
    ]);
    return publisher && subscriber;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.publisher.disconnect();
    this.subscriber.disconnect();
  }

  private emit(position: number | null): void {
    for (const listener of this.listeners) listener(position);
  }
}
