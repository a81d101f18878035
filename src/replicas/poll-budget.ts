import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis, Result } from 'ioredis';
import pThrottle, { type ThrottledFunction } from 'p-throttle';
import type { Logger } from 'pino';
import type { ProviderId } from '../domain/status.js';
import { connectRedis, whenConnected } from './redis.js';

/**
 * Each vendor's poll budget, shared by every replica: at most `budget[provider]` reads in any
 * `windowMs` (a sliding window, as the per-process p-throttle budget in strict mode), counted in
 * Redis so that the budget holds for all replicas together.
 *
 * The window is a sorted set of grant times per vendor, trimmed and checked atomically by a small
 * Lua script on the Redis clock (no clock skew between replicas). While Redis is unreachable
 * each replica falls back to its own p-throttle budget of `budget / replicas`, so the total stays
 * near the budget when `replicas` is the number of replicas running.
 *
 * Not rate-limiter-flexible: its Redis limiter is a fixed window in whole seconds, which lets twice
 * the budget through across a window boundary (a vendor's own limit would then answer 429s) and
 * cannot express POLL_BUDGET_WINDOW_MS below a second.
 */
export interface PollBudgetOptions {
  budget: Record<ProviderId, number>;
  windowMs: number;
  /** Replicas expected to share the budget: the fallback's divisor. */
  replicas: number;
  /** Aborting rejects every take still waiting (the poller stopping). */
  signal?: AbortSignal;
  /** Prefix of the Redis keys (one sorted set per vendor). */
  keyPrefix?: string;
}

// Trims grants older than the window, then grants (0) or answers how many ms until the oldest
// grant leaves the window.
const TAKE_SCRIPT = `
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    takePollBudget(key: string, limit: number, windowMs: number, member: string): Result<number, Context>;
  }
}

export class SharedPollBudget {
  private readonly redis: Redis;
  private readonly fallbacks = new Map<ProviderId, ThrottledFunction<() => Promise<void>>>();
  /** Takes sleeping until the shared window has room, per vendor. */
  private readonly sleeping = new Map<ProviderId, number>();
  private readonly keyPrefix: string;
  private attempts = 0;

  constructor(
    url: string,
    private readonly options: PollBudgetOptions,
    logger: Logger,
  ) {
    this.keyPrefix = options.keyPrefix ?? 'livestream-subgraph:poll-budget';
    this.redis = connectRedis(url, 'poll-budget', logger);
    this.redis.defineCommand('takePollBudget', { numberOfKeys: 1, lua: TAKE_SCRIPT });
    for (const [provider, budget] of Object.entries(options.budget) as [ProviderId, number][]) {
      const throttle = pThrottle({
        limit: Math.max(1, Math.floor(budget / options.replicas)),
        interval: options.windowMs,
        strict: true,
        signal: options.signal,
      });
      this.fallbacks.set(
        provider,
        throttle(async () => {}),
      );
    }
  }

  /** Takes one read from `provider`'s budget, waiting until the window has room. */
  async take(provider: ProviderId): Promise<void> {
    const limit = this.options.budget[provider];
    const { signal } = this.options;
    for (;;) {
      signal?.throwIfAborted();
      if (this.redis.status !== 'ready') break;
      let waitMs: number;
      try {
        this.attempts += 1;
        const member = `${randomUUID()}:${this.attempts}`;
        const key = `${this.keyPrefix}:${provider}`;
        waitMs = Number(await this.redis.takePollBudget(key, limit, this.options.windowMs, member));
      } catch {
        break; // Redis went away mid-way: the connection logs it; fall back below.
      }
      if (waitMs === 0) return;
      this.sleeping.set(provider, (this.sleeping.get(provider) ?? 0) + 1);
      try {
        await sleep(Math.min(waitMs, this.options.windowMs), undefined, { signal });
      } finally {
        this.sleeping.set(provider, (this.sleeping.get(provider) ?? 1) - 1);
      }
    }
    await this.fallbacks.get(provider)?.();
  }

  /**
   * Takes of this process waiting for `provider`'s budget to have room (as p-throttle's
   * `queueSize`: 0 means a take now would most likely go through at once).
   */
  waiting(provider: ProviderId): number {
    return (this.sleeping.get(provider) ?? 0) + (this.fallbacks.get(provider)?.queueSize ?? 0);
  }

  /** Waits (bounded) until Redis is connected; false when it did not answer in time. */
  whenConnected(timeoutMs = 2000): Promise<boolean> {
    return whenConnected(this.redis, timeoutMs);
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
