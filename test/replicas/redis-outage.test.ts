import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cycle } from '../continuity/support.js';
import { collect, waitFor } from '../helpers.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';
import { allVersions, type Cluster, openSubscriptions, startCluster, versionsByStream } from './cluster.js';

const WATCH_ALL = `subscription { livestreamChanged { id status version } }`;

/** Times `text` appears in `output`. */
const count = (output: string, text: string) => output.split(text).length - 1;

describe('replicas through a Redis outage', () => {
  let database: TestDatabase;
  let redis: TestRedisServer;
  let cluster: Cluster;

  beforeAll(async () => {
    database = await createTestDatabase();
    redis = await startRedisServer();
    cluster = await startCluster(['a', 'b'], { DATABASE_URL: database.url, REDIS_URL: redis.url });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    await redis?.stop();
    await database?.drop();
  });

  it('keeps delivering from the change log while Redis is down and after it returns, nothing lost or doubled', async () => {
    const [a, b] = [cluster.get('a'), cluster.get('b')];
    const seen = collect(b.ws(), WATCH_ALL);
    await waitFor(async () => (await openSubscriptions(b)) === 1);
    const lives: string[] = [];

    lives.push(await cycle(a.url, 'before-outage'));

    await redis.stop();
    // Each replica notices (one warning per Redis connection), and carries on without it.
    await waitFor(() => [a, b].every((replica) => count(replica.output(), 'Redis unreachable') >= 2));
    lives.push(await cycle(a.url, 'during-outage'));
    for (const id of lives)
      await waitFor(() =>
        seen.events.some((e) => e.livestreamChanged.id === id && e.livestreamChanged.status === 'STOPPED'),
      );

    await redis.start();
    await waitFor(() => [a, b].every((replica) => count(replica.output(), 'Redis reachable again') >= 2), 20_000);
    lives.push(await cycle(a.url, 'after-outage'));
    lives.push(await cycle(b.url, 'after-outage-b'));
    for (const id of lives)
      await waitFor(() =>
        seen.events.some((e) => e.livestreamChanged.id === id && e.livestreamChanged.status === 'STOPPED'),
      );

    const versions = versionsByStream(seen.events.map((event) => event.livestreamChanged));
    for (const id of lives) {
      const final = Math.max(...(versions.get(id) ?? [0]));
      expect(versions.get(id), id).toEqual(allVersions(final));
    }
    expect(seen.errors).toEqual([]);
  });
});
