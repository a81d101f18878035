import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LivekitFake } from '../fakes/livekit.js';
import { collect, gql, START_LIVESTREAM, STOP_LIVESTREAM, waitFor } from '../helpers.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';
import { LIVESTREAM_READ } from '../webhooks/support.js';
import {
  allVersions,
  type Cluster,
  openSubscriptions,
  type Replica,
  startCluster,
  versionsByStream,
} from './cluster.js';

const WATCH_ALL = `subscription { livestreamChanged { id status version } }`;
const WATCH_LIVEKIT = `subscription { livestreamChanged(provider: LIVEKIT) { id status version } }`;

describe('three replicas on one database and one Redis', () => {
  let database: TestDatabase;
  let redis: TestRedisServer;
  let livekit: LivekitFake;
  let cluster: Cluster;

  beforeAll(async () => {
    database = await createTestDatabase();
    redis = await startRedisServer();
    livekit = await LivekitFake.start();
    cluster = await startCluster(['a', 'b', 'c'], {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      LIVEKIT_URL: livekit.url,
      LIVEKIT_API_KEY: livekit.apiKey,
      LIVEKIT_API_SECRET: livekit.apiSecret,
    });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    await livekit?.close();
    await redis?.stop();
    await database?.drop();
  });

  it('delivers changes made through a third replica (mutation and signed webhook) to subscribers of the other two, once each, in order', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((name) => cluster.get(name)) as [Replica, Replica, Replica];
    const subscribers = [a, b].flatMap((replica) => [
      { replica, filter: 'all', seen: collect(replica.ws(), WATCH_ALL) },
      { replica, filter: 'livekit', seen: collect(replica.ws(), WATCH_LIVEKIT) },
    ]);
    await waitFor(async () => (await openSubscriptions(a)) === 2 && (await openSubscriptions(b)) === 2);

    // Through c: a sandbox livestream moved by mutations and the sandbox's own steps…
    const started = await gql(c.url, START_LIVESTREAM, { input: { provider: 'SANDBOX', roomId: 'fanout-sandbox' } });
    const sandboxId = started.data?.startLivestream.livestream.id as string;
    await waitFor(
      async () => (await gql(c.url, LIVESTREAM_READ, { id: sandboxId })).data?.livestream.status === 'LIVE',
    );
    await gql(c.url, STOP_LIVESTREAM, { id: sandboxId });
    // …and a LiveKit one moved by LiveKit's signed webhooks, delivered to c.
    const hook = `http://127.0.0.1:${c.port}/webhooks/livekit`;
    const lk = await gql(c.url, START_LIVESTREAM, { input: { provider: 'LIVEKIT', roomId: 'fanout-livekit' } });
    const livekitStream = lk.data?.startLivestream.livestream as { id: string; externalId: string };
    const { id: livekitId, externalId: egressId } = livekitStream;
    livekit.setStatus(egressId, 'EGRESS_ACTIVE');
    expect((await livekit.sendWebhook(hook, livekit.egressWebhook('egress_updated', egressId))).status).toBe(200);
    await gql(c.url, STOP_LIVESTREAM, { id: livekitId });
    livekit.setStatus(egressId, 'EGRESS_COMPLETE');
    expect((await livekit.sendWebhook(hook, livekit.egressWebhook('egress_ended', egressId))).status).toBe(200);

    const final = async (id: string) => {
      const read = (await gql(c.url, LIVESTREAM_READ, { id })).data?.livestream as { status: string; version: number };
      return read.status === 'STOPPED' ? read.version : 0;
    };
    const sandboxVersion = await waitFor(() => final(sandboxId));
    const livekitVersion = await waitFor(() => final(livekitId));
    // A last change after all the others: once a subscriber has it, it has had everything before.
    const sentinel = await gql(c.url, START_LIVESTREAM, { input: { provider: 'LIVEKIT', roomId: 'fanout-sentinel' } });
    const sentinelId = sentinel.data?.startLivestream.livestream.id as string;
    for (const { seen } of subscribers) {
      await waitFor(() => seen.events.some((event) => event.livestreamChanged.id === sentinelId));
    }

    for (const { replica, filter, seen } of subscribers) {
      const versions = versionsByStream(seen.events.map((event) => event.livestreamChanged));
      const label = `${filter} subscriber on ${replica.name}`;
      if (filter === 'all') expect(versions.get(sandboxId), label).toEqual(allVersions(sandboxVersion));
      else expect(versions.has(sandboxId), label).toBe(false);
      expect(versions.get(livekitId), label).toEqual(allVersions(livekitVersion));
      expect(seen.errors, label).toEqual([]);
    }
  });

  it('makes one vendor call for 20 concurrent starts spread over the replicas', async () => {
    const before = livekit.calls('StartRoomCompositeEgress').length;
    const input = { provider: 'LIVEKIT', roomId: 'concurrent-starts', idempotencyKey: 'one-start-for-all' };
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => gql(cluster.replicas[i % 3]!.url, START_LIVESTREAM, { input })),
    );
    const ids = new Set(answers.map((answer) => answer.data?.startLivestream.livestream?.id));
    expect(answers.map((answer) => answer.data?.startLivestream.__typename)).toEqual(
      Array(20).fill('StartLivestreamSuccess'),
    );
    expect(ids.size).toBe(1);
    expect(livekit.calls('StartRoomCompositeEgress').length - before).toBe(1);
    expect(livekit.egressesInRoom('concurrent-starts')).toHaveLength(1);
  });

  it('applies one webhook delivery sent to two replicas at once once', async () => {
    const [a, b] = [cluster.get('a'), cluster.get('b')];
    const started = await gql(a.url, START_LIVESTREAM, { input: { provider: 'LIVEKIT', roomId: 'twice-delivered' } });
    const stream = started.data?.startLivestream.livestream as { id: string; externalId: string };
    const { id, externalId } = stream;
    const seen = collect(b.ws(), `subscription($id: ID!) { livestreamChanged(id: $id) { id status version } }`, {
      id,
    });
    await seen.waitFor(1);
    livekit.setStatus(externalId, 'EGRESS_ACTIVE');
    const delivery = livekit.egressWebhook('egress_updated', externalId);
    const answers = await Promise.all(
      [a, b].map((replica) => livekit.sendWebhook(`http://127.0.0.1:${replica.port}/webhooks/livekit`, delivery)),
    );
    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);

    const read = async () => (await gql(a.url, LIVESTREAM_READ, { id })).data?.livestream;
    await waitFor(async () => (await read()).status === 'LIVE');
    const history = (await read()).history as { source: string; applied: boolean; status: string }[];
    expect(history.filter((event) => event.source === 'WEBHOOK')).toEqual([
      expect.objectContaining({ status: 'LIVE', applied: true }),
    ]);
    // A subscriber saw it once: the state it subscribed to, LIVE, then the stop.
    await gql(a.url, STOP_LIVESTREAM, { id });
    await waitFor(() => seen.events.some((event) => event.livestreamChanged.status === 'STOPPING'));
    const statuses = seen.events.map((event) => event.livestreamChanged.status);
    expect(statuses).toEqual(['STARTING', 'LIVE', 'STOPPING']);
    const first = seen.events[0].livestreamChanged.version as number;
    expect(seen.events.map((event) => event.livestreamChanged.version)).toEqual([first, first + 1, first + 2]);
  });
});
