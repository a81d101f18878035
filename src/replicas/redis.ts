import { Redis } from 'ioredis';
import type { Logger } from 'pino';

/**
 * An ioredis connection for replica coordination. It reconnects by itself (backoff up to 2 s);
 * commands fail at once while it is down instead of queueing (callers fall back, never wait on
 * Redis), and an outage is logged once when it starts and once when it ends, not per attempt.
 */
export function connectRedis(
  url: string,
  role: string,
  logger: Logger,
  options: { queueWhileDown?: boolean } = {},
): Redis {
  const redis = new Redis(url, {
    enableOfflineQueue: options.queueWhileDown ?? false,
    maxRetriesPerRequest: 1,
    commandTimeout: 2000,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 6), 2000),
    connectionName: `livestream-subgraph:${role}`,
  });
  let down = false;
  const lost = (error?: unknown) => {
    if (down) return;
    down = true;
    logger.warn({ err: error, role }, 'Redis unreachable: replicas fall back to the database until it returns');
  };
  redis.on('error', lost);
  redis.on('close', () => {
    if (redis.status !== 'end') lost();
  });
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    logger.info({ role }, 'Redis reachable again');
  });
  return redis;
}

/** Resolves once `redis` is connected, or false after `timeoutMs`. */
export async function whenConnected(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return true;
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ready);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    redis.on('ready', onReady);
  });
}
