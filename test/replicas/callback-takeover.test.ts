import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, START_LIVESTREAM, STOP_LIVESTREAM, waitFor } from '../helpers.js';
import { CallbackReceiver, type ReceivedMessage } from '../support/callback-receiver.js';
import { LIVESTREAM_READ } from '../webhooks/support.js';
import { allVersions, type Cluster } from './cluster.js';
import { type Deployment, startDeployment } from './deployment.js';

/**
 * Apollo's HTTP callback protocol across replicas: subscriptions registered through replica a,
 * a killed outright, changes made through b. b takes the registrations over once a's lease runs
 * out and the router keeps getting every change and its heartbeats.
 *
 * What the README promises for a replica killed outright: the takeover resumes after the last
 * position a wrote (every second), "so a replica killed outright may send its last second of
 * changes again". So each stream's `next`s are a's run, then b's run resuming at or before the
 * change after a's last: a repeat across the takeover is allowed, a gap or any other reorder is not.
 */

const BY_PROVIDER = 'subscription { livestreamChanged(provider: SANDBOX) { id status version } }';
const BY_ROOM = 'subscription($roomId: String!) { livestreamChanged(roomId: $roomId) { id status version } }';
const LEASE_MS = 2000;

/** Each stream's versions, in the order the router got them. */
function versionsOf(nexts: ReceivedMessage[]): Map<string, number[]> {
  const seen = new Map<string, number[]>();
  for (const message of nexts) {
    const change = message.body.payload.data.livestreamChanged as { id: string; version: number };
    seen.set(change.id, [...(seen.get(change.id) ?? []), change.version]);
  }
  return seen;
}

/**
 * `versions` is one run of consecutive versions, or two (the dead replica's, then the one taking
 * over, which starts at or before the version after the first run's last): every version from
 * `first` to `last` is there.
 */
function expectResumed(versions: number[] | undefined, expected: number[], label: string): void {
  expect(versions, label).toBeDefined();
  const runs: number[][] = [];
  for (const version of versions ?? []) {
    const run = runs.at(-1);
    if (run && version === (run.at(-1) as number) + 1) run.push(version);
    else runs.push([version]);
  }
  expect(runs.length, `${label}: ${JSON.stringify(versions)}`).toBeLessThanOrEqual(2);
  const [before, after] = runs as [number[], number[] | undefined];
  if (after) expect(after[0], `${label}: ${JSON.stringify(versions)}`).toBeLessThanOrEqual(before.at(-1) as number);
  expect([...new Set(versions)], label).toEqual(expected);
}

describe('callback subscriptions when their replica is killed', () => {
  let deployment: Deployment;
  let receiver: CallbackReceiver;
  let cluster: Cluster;

  beforeAll(async () => {
    receiver = new CallbackReceiver();
    await receiver.start();
    deployment = await startDeployment(['a', 'b'], {
      env: { CALLBACK_LEASE_MS: String(LEASE_MS), SANDBOX_STEP_MS: '100' },
    });
    ({ cluster } = deployment);
  }, 60_000);
  afterAll(async () => {
    await deployment?.stop();
    await receiver?.close();
  });

  it('are taken over by another replica: every change as next in order, heartbeats continue, no gap', {
    timeout: 120_000,
  }, async () => {
    const [a, b] = [cluster.get('a'), cluster.get('b')];
    const start = async (roomId: string) =>
      (await gql(b.url, START_LIVESTREAM, { input: { provider: 'SANDBOX', roomId } })).data?.startLivestream
        .livestream as { id: string };
    const status = async (id: string) => (await gql(b.url, LIVESTREAM_READ, { id })).data?.livestream;
    const stop = async (id: string) => {
      await waitFor(async () => (await status(id)).status === 'LIVE');
      await gql(b.url, STOP_LIVESTREAM, { id });
      return waitFor(async () => {
        const read = await status(id);
        return read.status === 'STOPPED' ? (read.version as number) : 0;
      });
    };
    const nexts = (id: string) => receiver.of(id, 'next');

    // Registered through a: every SANDBOX change with heartbeats, and a room nothing happened in yet.
    const all = await receiver.subscribe(a.url, BY_PROVIDER, { heartbeatIntervalMs: 1000 });
    const late = await receiver.subscribe(a.url, BY_ROOM, { variables: { roomId: 'takeover-late' } });
    expect([all.body, late.body]).toEqual([{ data: null }, { data: null }]);

    // A stream goes live through b; a emits its changes.
    const early = await start('takeover-early');
    await waitFor(() => nexts(all.id).some((m) => m.body.payload.data.livestreamChanged.status === 'LIVE'));
    await a.kill();
    const killedAt = receiver.messages.length;

    // Changes through b while a's lease still runs, and after b took over.
    const lateStream = await start('takeover-late');
    const earlyFinal = await stop(early.id);
    const lateFinal = await stop(lateStream.id);
    await waitFor(() => nexts(late.id).some((m) => m.body.payload.data.livestreamChanged.status === 'STOPPED'), 20_000);
    await waitFor(
      () => nexts(all.id).filter((m) => m.body.payload.data.livestreamChanged.status === 'STOPPED').length === 2,
      20_000,
    );
    // Heartbeats go on from b.
    await waitFor(
      () =>
        receiver.messages.slice(killedAt).filter((m) => m.subscriptionId === all.id && m.action === 'check').length >=
        3,
      20_000,
    );

    const byStream = versionsOf(nexts(all.id));
    expectResumed(byStream.get(early.id), allVersions(earlyFinal), 'early stream, provider subscription');
    expectResumed(byStream.get(lateStream.id), allVersions(lateFinal), 'late stream, provider subscription');
    expectResumed(versionsOf(nexts(late.id)).get(lateStream.id), allVersions(lateFinal), 'room subscription');
    expect([...versionsOf(nexts(late.id)).keys()]).toEqual([lateStream.id]);
    const checks = receiver.of(all.id, 'check');
    expect(checks.every((m) => m.status === 204)).toBe(true);
    // Still subscribed: nothing completed them.
    expect(receiver.messages.filter((m) => m.action === 'complete')).toEqual([]);
    expect(receiver.violations).toEqual([]);
    expect(b.output()).not.toMatch(/callback failed/);
  });
});
