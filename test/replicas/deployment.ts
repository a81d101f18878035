import { LivekitFake } from '../fakes/livekit.js';
import { createTestDatabase, type TestDatabase, viaPort } from '../support/postgres.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { type Cluster, startCluster } from './cluster.js';

/** Replicas with everything they share, all the test's own: a fresh database, a Redis, a vendor. */
export interface Deployment {
  database: TestDatabase;
  redis: TestRedisServer;
  cluster: Cluster;
  /** Present with `livekit: true`: the replicas' LiveKit. */
  livekit: LivekitFake | null;
  /** Present with `proxy: true`: every replica reaches PostgreSQL through it. */
  proxy: TcpProxy | null;
  /** Stops and removes all of it (a cut proxy restored first, so replicas stop cleanly). */
  stop(): Promise<void>;
}

export async function startDeployment(
  names: string[],
  options: { livekit?: boolean; proxy?: boolean; env?: Record<string, string> } = {},
): Promise<Deployment> {
  const database = await createTestDatabase();
  const proxy = options.proxy ? await startTcpProxy({ host: '127.0.0.1', port: 5432 }) : null;
  const redis = await startRedisServer();
  const livekit = options.livekit ? await LivekitFake.start() : null;
  let cluster: Cluster | null = null;
  const stop = async () => {
    await proxy?.restore();
    await cluster?.stop();
    await livekit?.close();
    await redis.stop();
    await proxy?.close();
    await database.drop();
  };
  try {
    cluster = await startCluster(names, {
      DATABASE_URL: proxy ? viaPort(database.url, proxy.port) : database.url,
      REDIS_URL: redis.url,
      ...(livekit
        ? { LIVEKIT_URL: livekit.url, LIVEKIT_API_KEY: livekit.apiKey, LIVEKIT_API_SECRET: livekit.apiSecret }
        : {}),
      ...options.env,
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { database, redis, cluster, livekit, proxy, stop };
}
