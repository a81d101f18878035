import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LivekitFake } from '../fakes/livekit.js';
import { collect, gql, waitFor } from '../helpers.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';
import { LIVESTREAM_READ } from '../webhooks/support.js';
import { allVersions, type Cluster, openSubscriptions, startCluster, versionsByStream } from './cluster.js';

const START = `mutation($roomId: String!) { startLivestream(input: { provider: LIVEKIT, roomId: $roomId }) {
  __typename ... on StartLivestreamSuccess { livestream { id externalId version changeCursor } } } }`;
const WATCH = `subscription($after: String) {
  livestreamChanged(provider: LIVEKIT, after: $after) { id status version changeCursor } }`;

interface Change {
  id: string;
  status: string;
  version: number;
  changeCursor: string;
}

describe('a replica killed under webhook load', () => {
  let database: TestDatabase;
  let redis: TestRedisServer;
  let livekit: LivekitFake;
  let cluster: Cluster;

  beforeAll(async () => {
    database = await createTestDatabase();
    redis = await startRedisServer();
    livekit = await LivekitFake.start();
    cluster = await startCluster(['a', 'b'], {
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

  it('loses no acknowledged delivery, and its subscribers resume on another replica with after', {
    timeout: 120_000,
  }, async () => {
    const [a, b] = [cluster.get('a'), cluster.get('b')];
    const streams: { id: string; externalId: string; version: number; changeCursor: string }[] = [];
    for (let i = 0; i < 30; i++) {
      const answer = await gql(b.url, START, { roomId: `crash-${i}` });
      streams.push(answer.data?.startLivestream.livestream);
    }
    const cursor = streams.at(-1)!.changeCursor;

    // A subscriber on a, from the cursor the last start gave.
    const before = collect<{ livestreamChanged: Change }>(a.ws(), WATCH, { after: cursor });
    await waitFor(async () => (await openSubscriptions(a)) === 1);

    // The vendor sends each stream's egress life to a, streams side by side; a dies midway.
    const hook = `http://127.0.0.1:${a.port}/webhooks/livekit`;
    const acknowledged: { id: string; status: string }[] = [];
    const unanswered: { id: string; status: string; delivery: unknown }[] = [];
    const send = async (stream: (typeof streams)[number], egress: 'EGRESS_ACTIVE' | 'EGRESS_COMPLETE') => {
      livekit.setStatus(stream.externalId, egress);
      const event = egress === 'EGRESS_ACTIVE' ? 'egress_updated' : 'egress_ended';
      const delivery = livekit.egressWebhook(event, stream.externalId);
      const status = egress === 'EGRESS_ACTIVE' ? 'LIVE' : 'STOPPED';
      try {
        const answer = await livekit.sendWebhook(hook, delivery);
        if (answer.status >= 200 && answer.status < 300) acknowledged.push({ id: stream.id, status });
        else unanswered.push({ id: stream.id, status, delivery });
      } catch {
        unanswered.push({ id: stream.id, status, delivery });
      }
    };
    const load = Promise.all(
      streams.map(async (stream) => {
        await send(stream, 'EGRESS_ACTIVE');
        await send(stream, 'EGRESS_COMPLETE');
      }),
    );
    await waitFor(() => acknowledged.length >= 20);
    await a.kill();
    await load;
    expect(acknowledged.length).toBeGreaterThanOrEqual(20);

    // Every delivery a acknowledged was applied before it answered.
    for (const { id, status } of acknowledged) {
      const read = (await gql(b.url, LIVESTREAM_READ, { id })).data?.livestream;
      expect(read.history, `${status} of ${id}`).toContainEqual(
        expect.objectContaining({ status, source: 'WEBHOOK', applied: true }),
      );
    }

    // The subscriber reconnects to b with the last cursor it got, while the vendor retries on b.
    await before.completed;
    const lastCursor = before.events.at(-1)?.livestreamChanged.changeCursor ?? cursor;
    const after = collect<{ livestreamChanged: Change }>(b.ws(), WATCH, { after: lastCursor });
    for (const { delivery } of unanswered) {
      const answer = await livekit.sendWebhook(`http://127.0.0.1:${b.port}/webhooks/livekit`, delivery);
      expect(answer.status).toBe(200);
    }
    const seen = () => [...before.events, ...after.events].map((event) => event.livestreamChanged);
    await waitFor(() => seen().filter((change) => change.status === 'STOPPED').length === streams.length, 30_000);

    // Across the two replicas, every change after the cursor once, in order.
    const versions = versionsByStream(seen());
    for (const stream of streams) {
      const final = (await gql(b.url, LIVESTREAM_READ, { id: stream.id })).data?.livestream.version as number;
      expect(versions.get(stream.id), stream.id).toEqual(allVersions(final).slice(stream.version));
    }
    expect(after.errors).toEqual([]);
  });
});
