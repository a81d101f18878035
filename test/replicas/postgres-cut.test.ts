import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LivekitFake } from '../fakes/livekit.js';
import { type Collected, collect, gql, START_LIVESTREAM, STOP_LIVESTREAM, waitFor } from '../helpers.js';
import type { TcpProxy } from '../support/tcp-proxy.js';
import { allVersions, type Cluster, openSubscriptions, type Replica, versionsByStream } from './cluster.js';
import { type Deployment, startDeployment } from './deployment.js';

/**
 * PostgreSQL cut off from three replicas at once (each reaches it through the test's TCP proxy),
 * then given back: every replica refuses what it cannot make durable while the database is away,
 * and recovers by itself; subscribers on two replicas get every change made through the third
 * (before and after the cut) once, in order, and one dropped meanwhile resumes with `after`.
 */

const WATCH = `subscription($after: String) { livestreamChanged(provider: LIVEKIT, after: $after) {
  id status version changeCursor } }`;
const READ = '{ livestreams(first: 5) { edges { node { id status } } } }';

interface Change {
  id: string;
  status: string;
  version: number;
  changeCursor: string;
}
type Watch = Collected<{ livestreamChanged: Change }>;

describe('three replicas while PostgreSQL is cut and restored', () => {
  let deployment: Deployment;
  let proxy: TcpProxy;
  let livekit: LivekitFake;
  let cluster: Cluster;

  beforeAll(async () => {
    // A short connect timeout would fail three replicas' first connections on a loaded machine.
    deployment = await startDeployment(['a', 'b', 'c'], {
      livekit: true,
      proxy: true,
      env: { DATABASE_CONNECT_TIMEOUT_MS: '5000' },
    });
    ({ cluster } = deployment);
    proxy = deployment.proxy as TcpProxy;
    livekit = deployment.livekit as LivekitFake;
  }, 60_000);
  afterAll(async () => {
    await deployment?.stop();
  });

  const readyz = async (replica: Replica) => (await fetch(`http://127.0.0.1:${replica.port}/readyz`)).status;
  const hook = (replica: Replica) => `http://127.0.0.1:${replica.port}/webhooks/livekit`;
  const changes = (watch: Watch) => watch.events.map((event) => event.livestreamChanged);

  it('refuses on every replica while cut, recovers without a restart, and loses or doubles nothing', {
    timeout: 120_000,
  }, async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((name) => cluster.get(name)) as [Replica, Replica, Replica];
    const onA = collect<{ livestreamChanged: Change }>(a.ws(), WATCH);
    const onB = collect<{ livestreamChanged: Change }>(b.ws(), WATCH);
    const droppedClient = b.ws();
    const dropped = collect<{ livestreamChanged: Change }>(droppedClient, WATCH);
    await waitFor(async () => (await openSubscriptions(a)) === 1 && (await openSubscriptions(b)) === 2);

    // Through c: two LiveKit streams, one moved by a signed webhook acknowledged just before the cut.
    const start = async (roomId: string) =>
      (await gql(c.url, START_LIVESTREAM, { input: { provider: 'LIVEKIT', roomId } })).data?.startLivestream
        .livestream as { id: string; externalId: string };
    const first = await start('cut-first');
    const second = await start('cut-second');
    await waitFor(() => changes(dropped).some((change) => change.id === second.id));
    livekit.setStatus(first.externalId, 'EGRESS_ACTIVE');
    const beforeCut = await livekit.sendWebhook(hook(c), livekit.egressWebhook('egress_updated', first.externalId));
    expect(beforeCut.status).toBe(200);

    await proxy.cut();
    // The dropped subscriber's connection goes (a phone changing network) while the database is away.
    // What it had processed when the connection went: frames still in flight are lost with it.
    const closing = droppedClient.dispose();
    const beforeDrop = changes(dropped);
    await closing;
    const lastCursor = beforeDrop.at(-1)?.changeCursor as string;

    const vendorCalls = livekit.calls('StartRoomCompositeEgress').length;
    livekit.setStatus(second.externalId, 'EGRESS_ACTIVE');
    const refusedDelivery = livekit.egressWebhook('egress_updated', second.externalId);
    for (const replica of [a, b, c]) {
      expect(await readyz(replica), replica.name).toBe(503);
      const read = await gql(replica.url, READ);
      expect(read.data ?? null, replica.name).toBeNull();
      expect(read.errors, replica.name).toMatchObject([{ extensions: { code: 'UNAVAILABLE' } }]);
      const started = await gql(replica.url, START_LIVESTREAM, {
        input: { provider: 'LIVEKIT', roomId: `cut-during-${replica.name}` },
      });
      expect(started.errors, replica.name).toMatchObject([{ extensions: { code: 'UNAVAILABLE' } }]);
      const refused = await livekit.sendWebhook(hook(replica), refusedDelivery);
      expect(refused.status, replica.name).toBe(503);
    }
    // Nothing reached the vendor for starts that could not be recorded.
    expect(livekit.calls('StartRoomCompositeEgress').length).toBe(vendorCalls);
    // Resuming while the database is away is refused, not answered with a partial replay.
    const tooEarly = collect(b.ws(), WATCH, { after: lastCursor });
    await tooEarly.completed;
    expect(tooEarly.errors.flat()).toMatchObject([{ extensions: { code: 'UNAVAILABLE' } }]);

    await proxy.restore();

    for (const replica of [a, b, c]) await waitFor(async () => (await readyz(replica)) === 200, 20_000);
    // The vendor's retry of the refused delivery, then more changes, all through c.
    expect((await livekit.sendWebhook(hook(c), refusedDelivery)).status).toBe(200);
    await gql(c.url, STOP_LIVESTREAM, { id: first.id });
    livekit.setStatus(first.externalId, 'EGRESS_COMPLETE');
    expect((await livekit.sendWebhook(hook(c), livekit.egressWebhook('egress_ended', first.externalId))).status).toBe(
      200,
    );
    const resumed = collect<{ livestreamChanged: Change }>(b.ws(), WATCH, { after: lastCursor });
    await gql(c.url, STOP_LIVESTREAM, { id: second.id });
    // A last change after all the others: once a subscriber has it, it has had everything before.
    const sentinel = await start('cut-sentinel');

    const watchers: Record<string, { seen: () => Change[]; watches: Watch[] }> = {
      'subscriber on a': { seen: () => changes(onA), watches: [onA] },
      'subscriber on b': { seen: () => changes(onB), watches: [onB] },
      'dropped, resumed on b': { seen: () => [...beforeDrop, ...changes(resumed)], watches: [dropped, resumed] },
    };
    for (const { seen } of Object.values(watchers)) {
      await waitFor(() => seen().some((change) => change.id === sentinel.id), 20_000);
    }
    const finals = new Map<string, number>();
    for (const { id } of [first, second, sentinel]) {
      const read = await gql(a.url, 'query($id: ID!) { livestream(id: $id) { status version } }', { id });
      finals.set(id, read.data?.livestream.version);
    }
    expect(finals.get(first.id)).toBeGreaterThanOrEqual(4);
    for (const [label, { seen, watches }] of Object.entries(watchers)) {
      const versions = versionsByStream(seen());
      for (const [id, final] of finals) expect(versions.get(id), `${label}: ${id}`).toEqual(allVersions(final));
      expect(
        watches.flatMap((watch) => watch.errors),
        label,
      ).toEqual([]);
    }
  });
});
