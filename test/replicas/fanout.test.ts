import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LivekitFake } from '../fakes/livekit.js';
import { collect, gql, START_LIVESTREAM, STOP_LIVESTREAM, tempDir, waitFor } from '../helpers.js';
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
  const dir = tempDir();
  let redis: TestRedisServer;
  let livekit: LivekitFake;
  let cluster: Cluster;

  beforeAll(async () => {
    redis = await startRedisServer();
    livekit = await LivekitFake.start();
    cluster = await startCluster(['a', 'b', 'c'], {
      DATABASE_URL: join(dir, 'shared.sqlite'),
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
    rmSync(dir, { recursive: true, force: true });
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
});
