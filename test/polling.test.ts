import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { type CloudflareFake, startCloudflareFake } from './fakes/cloudflare.js';
import { FAKE_TENBYTE_HOST_TOKEN, startTenbyteFake, type TenbyteFake } from './fakes/tenbyte.js';
import {
  collect,
  gql,
  START_LIVESTREAM,
  START_RECORDING,
  STOP_LIVESTREAM,
  startServer,
  type TestServer,
  tempDir,
  waitFor,
  wsClient,
} from './helpers.js';

/**
 * Polling over real HTTP: the service against the Cloudflare RealtimeKit and Tenbyte fakes, on
 * real SQLite files. Only one test sends a webhook (its change must restart the schedule); in the
 * others every change after a start is the poller's.
 */

let cf: CloudflareFake;
let tb: TenbyteFake;
const servers: TestServer[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  [cf, tb] = await Promise.all([startCloudflareFake(), startTenbyteFake()]);
});
afterAll(async () => {
  await Promise.all(servers.map((server) => server.cleanup()));
  await Promise.all([cf.close(), tb.close()]);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function boot(env: Record<string, string>, dir?: string): Promise<TestServer> {
  const server = await startServer(
    {
      ...cf.env,
      TENBYTE_API_TOKEN: FAKE_TENBYTE_HOST_TOKEN,
      TENBYTE_API_URL: tb.apiUrl,
      VENDOR_TIMEOUT_MS: '1000',
      VENDOR_MAX_RETRIES: '1',
      ...env,
    },
    dir ? { dir } : {},
  );
  servers.push(server);
  return server;
}

function sharedDir(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir;
}

const READ_LIVESTREAM = `query($id: ID!) {
  livestream(id: $id) { id status vendorStatus externalId failureReason version history { status source applied } }
}`;
const READ_RECORDING = `query($id: ID!) {
  recording(id: $id) { id status vendorStatus externalId failureReason version assets { url } history { status source applied } }
}`;
const WATCH_LIVESTREAM = `subscription($id: ID!) {
  livestreamChanged(id: $id) { id status version history { status source } }
}`;

async function startLivestream(server: TestServer, input: Record<string, unknown>) {
  const result = await gql(server.url, START_LIVESTREAM, { input: { provider: 'CLOUDFLARE', ...input } });
  const livestream = result.data?.startLivestream.livestream;
  if (!livestream) throw new Error(`start failed: ${JSON.stringify(result)}`);
  return livestream as { id: string; externalId: string; status: string };
}

async function readLivestream(server: TestServer, id: string) {
  return (await gql(server.url, READ_LIVESTREAM, { id })).data?.livestream;
}

/** When the fake received each read of these livestreams (GET /livestreams/{id}), in order. */
function readsOf(externalIds: readonly string[]): number[] {
  const paths = new Set(externalIds.map((id) => `/livestreams/${id}`));
  return cf.requests.filter((r) => r.method === 'GET' && paths.has(r.path)).map((r) => r.at);
}

function gaps(times: readonly number[]): number[] {
  return times.slice(1).map((at, i) => at - (times[i] ?? at));
}

describe('polling heals what webhooks never said', () => {
  it('a missing final webhook: the subscriber still sees the final state, from POLL', async () => {
    const server = await boot({ POLL_INTERVAL_MS: '50', POLL_MAX_INTERVAL_MS: '200' });
    const livestream = await startLivestream(server, { roomId: 'heal-room' });
    expect(livestream.status).toBe('STARTING');
    const client = wsClient(server.wsUrl);
    try {
      const watch = collect(client, WATCH_LIVESTREAM, { id: livestream.id });
      await watch.waitFor(1);
      cf.setLivestreamStatus(livestream.externalId, 'LIVE');
      await waitFor(() => watch.events.some((e) => e.livestreamChanged.status === 'LIVE'));
      // The vendor ends the livestream and its webhook is lost.
      cf.setLivestreamStatus(livestream.externalId, 'IDLE', { active: false });
      await watch.completed;
      const last = watch.events.at(-1)?.livestreamChanged;
      expect(last.status).toBe('STOPPED');
      expect(last.history.at(-1)).toEqual({ status: 'STOPPED', source: 'POLL' });
      expect(last.history.map((h: { source: string }) => h.source)).not.toContain('WEBHOOK');
    } finally {
      await client.dispose();
    }

    // A recording whose "uploaded" webhook is lost ends COMPLETED, with its file.
    const started = await gql(server.url, START_RECORDING, { input: { provider: 'CLOUDFLARE', roomId: 'heal-room' } });
    const recording = started.data?.startRecording.recording;
    expect(recording.status).toBe('STARTING');
    cf.setRecordingStatus(recording.externalId, 'UPLOADED');
    const done = await waitFor(async () => {
      const read = (await gql(server.url, READ_RECORDING, { id: recording.id })).data?.recording;
      return read?.status === 'COMPLETED' && read;
    });
    expect(done.assets).toHaveLength(1);
    expect(done.history.at(-1)).toMatchObject({ status: 'COMPLETED', source: 'POLL', applied: true });
  });

  it('Tenbyte streams, which send no webhooks, reach their final state by polling alone', async () => {
    const server = await boot({ POLL_INTERVAL_MS: '50', POLL_MAX_INTERVAL_MS: '200' });
    const session = tb.createSession('webinar-room');
    const started = await gql(server.url, START_LIVESTREAM, { input: { provider: 'TENBYTE', roomId: session.id } });
    const livestream = started.data?.startLivestream.livestream;
    expect(livestream.status).toBe('STARTING');
    const client = wsClient(server.wsUrl);
    try {
      const watch = collect(client, WATCH_LIVESTREAM, { id: livestream.id });
      await watch.waitFor(1);
      tb.setStatus(session.id, 'live');
      await waitFor(() => watch.events.some((e) => e.livestreamChanged.status === 'LIVE'));
      // The host ends the session in Tenbyte's own UI.
      tb.setStatus(session.id, 'ended');
      await watch.completed;
      const last = watch.events.at(-1)?.livestreamChanged;
      expect(last.status).toBe('STOPPED');
      expect(last.history.filter((h: { source: string }) => h.source !== 'API')).toEqual([
        { status: 'LIVE', source: 'POLL' },
        { status: 'STOPPED', source: 'POLL' },
      ]);
    } finally {
      await client.dispose();
    }
  });
});

describe('the poll schedule', () => {
  it('backs off while nothing changes, up to the cap, and starts over after a change', async () => {
    const server = await boot({ POLL_INTERVAL_MS: '60', POLL_MAX_INTERVAL_MS: '1920', POLL_JITTER_PERCENT: '0' });
    const livestream = await startLivestream(server, { roomId: 'backoff-room' });
    // Unchanged, the reads come 120, 240, 480, 960, 1,920, 1,920 ms apart.
    await waitFor(() => readsOf([livestream.externalId]).length >= 7, 30_000);
    const unchanged = gaps(readsOf([livestream.externalId]).slice(0, 7));
    // Lower bounds only (a loaded machine makes gaps longer, never shorter): they grow.
    expect(unchanged[0]).toBeGreaterThanOrEqual(90);
    expect(unchanged[1]).toBeGreaterThanOrEqual(180);
    expect(unchanged[2]).toBeGreaterThanOrEqual(360);
    expect(unchanged[3]).toBeGreaterThanOrEqual(720);
    expect(unchanged[4]).toBeGreaterThanOrEqual(1440);
    // ... and stop growing at the cap (doubling once more would make it at least 3,840 ms).
    expect(unchanged[5]).toBeLessThan(3500);

    // Reads are told apart by their place in the fake's log, not by time: a read recorded in the
    // same millisecond just before the change would pass `at >= changedAt` while it saw the old
    // status (and the next read is then a backed-off one: a CI run once failed so, 1,955 ms).
    const before = readsOf([livestream.externalId]).length;
    cf.setLivestreamStatus(livestream.externalId, 'LIVE');
    await waitFor(async () => (await readLivestream(server, livestream.id))?.status === 'LIVE', 10_000);
    await waitFor(() => readsOf([livestream.externalId]).length >= before + 3, 10_000);
    const after = readsOf([livestream.externalId]).slice(before);
    // The read that saw LIVE restarted the schedule at the base interval (60 ms); backed off, the
    // next read could not have come sooner than the cap (1,920 ms): the margin between the two is
    // what a loaded machine may add (a 60 ms wait once took 600 ms on a loaded CI machine).
    expect(gaps(after)[0]).toBeLessThan(1500);
    const history = (await readLivestream(server, livestream.id))?.history;
    expect(history.at(-1)).toEqual({ status: 'LIVE', source: 'POLL', applied: true });
  }, 60_000);

  it('starts over after a change a webhook brought, not only one a poll found', async () => {
    const server = await boot({
      ...cf.webhookEnv,
      POLL_INTERVAL_MS: '60',
      POLL_MAX_INTERVAL_MS: '4000',
      POLL_JITTER_PERCENT: '0',
    });
    const livestream = await startLivestream(server, { roomId: 'webhook-restart-room' });
    // Unchanged, the reads come 120, 240, 480, 960, 1,920 ms apart: the next one is due 3,840 ms
    // on, far from the base interval whatever the machine's load adds to either.
    await waitFor(() => readsOf([livestream.externalId]).length >= 6, 10_000);
    const sentAt = Date.now();
    const before = readsOf([livestream.externalId]).length;
    cf.setLivestreamStatus(livestream.externalId, 'LIVE');
    const answer = await cf.sendWebhook(
      `http://127.0.0.1:${server.port}/webhooks/cloudflare`,
      cf.livestreamWebhook(livestream.externalId),
    );
    expect(answer.status).toBe(200);
    expect((await readLivestream(server, livestream.id))?.history.at(-1)).toEqual({
      status: 'LIVE',
      source: 'WEBHOOK',
      applied: true,
    });
    // The first read after the change by its place in the log (see the test above).
    await waitFor(() => readsOf([livestream.externalId]).length > before, 10_000);
    const next = readsOf([livestream.externalId])[before] ?? Number.POSITIVE_INFINITY;
    // Restarted at the base interval (60 ms); backed off, it could not have come before 3,840 ms.
    expect(next - sentAt).toBeLessThan(3000);
  });

  it('two services on one database file never read a stream at once, and read each once per due time', async () => {
    const dir = sharedDir();
    const env = { POLL_INTERVAL_MS: '150', POLL_MAX_INTERVAL_MS: '150', POLL_JITTER_PERCENT: '0' };
    const a = await boot(env, dir);
    const b = await boot(env, dir);
    cf.readDelayMs = 40;
    try {
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) ids.push((await startLivestream(a, { roomId: `shared-room-${i}` })).externalId);
      const from = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const to = Date.now();
      for (const id of ids) {
        const reads = readsOf([id]).filter((at) => at >= from && at <= to);
        // One reader per due time: at most one read per 150 ms interval (plus the edges), where two
        // services each polling on their own would read about twice as often.
        expect(reads.length).toBeGreaterThanOrEqual(3);
        expect(reads.length).toBeLessThanOrEqual(Math.ceil((to - from) / 150) + 1);
        for (const gap of gaps(reads)) expect(gap).toBeGreaterThanOrEqual(100);
      }
      expect(cf.overlappingReads.filter((path) => ids.some((id) => path === `/livestreams/${id}`))).toEqual([]);
      // Both took part.
      expect(a.app.poller.stats.polls).toBeGreaterThan(0);
      expect(b.app.poller.stats.polls).toBeGreaterThan(0);
    } finally {
      cf.readDelayMs = 0;
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('keeps each vendor within its request budget', async () => {
    const server = await boot({
      POLL_INTERVAL_MS: '50',
      POLL_MAX_INTERVAL_MS: '50',
      POLL_BUDGET_CLOUDFLARE: '4',
      POLL_BUDGET_WINDOW_MS: '1000',
    });
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await startLivestream(server, { roomId: `budget-room-${i}` })).externalId);
    // Wanted: 8 streams every 50 ms, 160 reads a second. Allowed: 4 a second, oldest due first, so
    // every stream gets its turn.
    const polled = () => new Set(cf.requests.filter((r) => r.method === 'GET').map((r) => r.path));
    await waitFor(() => readsOf(ids).length >= 12 && ids.every((id) => polled().has(`/livestreams/${id}`)), 15_000);
    await server.stop();
    const reads = readsOf(ids);
    for (let i = 0; i + 4 < reads.length; i++) {
      // Any 5 consecutive reads span a whole window, less what arrival times can skew on a loaded
      // machine (unthrottled, they would come a few ms apart).
      expect((reads[i + 4] ?? 0) - (reads[i] ?? 0)).toBeGreaterThanOrEqual(700);
    }
    // And over the whole run, no more than the budget per window.
    const span = (reads.at(-1) ?? 0) - (reads[0] ?? 0);
    expect(reads.length).toBeLessThanOrEqual(4 * (Math.floor((span + 300) / 1000) + 1));
  });
});

describe('streams stuck in a transitional state', () => {
  it('are failed with a reason once past the deadline when the vendor no longer knows them', async () => {
    const server = await boot({ POLL_INTERVAL_MS: '50', POLL_MAX_INTERVAL_MS: '100', POLL_STUCK_AFTER_MS: '400' });

    // STARTING: a recording the vendor lost.
    const lost = (await gql(server.url, START_RECORDING, { input: { provider: 'CLOUDFLARE', roomId: 'stuck-a' } })).data
      ?.startRecording.recording;
    // STARTING too, but the vendor still knows it (INVOKED, waiting for a worker): it is kept.
    const waiting = (await gql(server.url, START_RECORDING, { input: { provider: 'CLOUDFLARE', roomId: 'stuck-b' } }))
      .data?.startRecording.recording;
    cf.recordings.delete(lost.externalId);

    // STOPPING: a Tenbyte session whose end was accepted, then vanished on the vendor.
    const session = tb.createSession('stuck-webinar');
    tb.goLiveStatus = 'live';
    const started = await gql(server.url, START_LIVESTREAM, { input: { provider: 'TENBYTE', roomId: session.id } });
    tb.goLiveStatus = 'scheduled';
    const livestream = started.data?.startLivestream.livestream;
    expect(livestream.status).toBe('LIVE');
    tb.noSessionNext(1, { match: /^POST \/sessions\/[^/]+\/end$/ });
    const stopping = await gql(server.url, STOP_LIVESTREAM, { id: livestream.id });
    expect(stopping.data?.stopLivestream.livestream.status).toBe('STOPPING');
    tb.sessions.delete(session.id);

    const failedRecording = await waitFor(async () => {
      const read = (await gql(server.url, READ_RECORDING, { id: lost.id })).data?.recording;
      return read?.status === 'FAILED' && read;
    });
    expect(failedRecording.failureReason).toMatch(/CLOUDFLARE no longer knows this recording: it was STARTING/);
    expect(failedRecording.history.at(-1)).toMatchObject({ status: 'FAILED', source: 'POLL', applied: true });

    const failedLivestream = await waitFor(async () => {
      const read = await readLivestream(server, livestream.id);
      return read?.status === 'FAILED' && read;
    });
    expect(failedLivestream.failureReason).toMatch(/TENBYTE no longer knows this livestream: it was STOPPING/);
    expect(failedLivestream.history.at(-1)).toMatchObject({ status: 'FAILED', source: 'POLL' });

    const kept = (await gql(server.url, READ_RECORDING, { id: waiting.id })).data?.recording;
    expect(kept.status).toBe('STARTING');
  });

  it('a start whose process died before the vendor answered ends FAILED, not STARTING forever', async () => {
    const dir = sharedDir();
    const first = await boot({ VENDOR_TIMEOUT_MS: '500', VENDOR_MAX_RETRIES: '0', SHUTDOWN_TIMEOUT_MS: '100' }, dir);
    cf.fail({ mode: 'hang', method: 'POST', path: /^\/meetings\/crash-room\/livestreams$/ });
    const answer = gql(first.url, START_LIVESTREAM, { input: { provider: 'CLOUDFLARE', roomId: 'crash-room' } }).catch(
      () => null,
    );
    const ACTIVE = `{ activeLivestreams(provider: CLOUDFLARE, roomId: "crash-room") { id status externalId } }`;
    const orphan = await waitFor(async () => (await gql(first.url, ACTIVE)).data?.activeLivestreams[0]);
    expect(orphan).toMatchObject({ status: 'STARTING', externalId: null });
    // The process goes away while the vendor has not answered.
    await first.stop();
    await answer;

    const second = await boot({ POLL_INTERVAL_MS: '50', POLL_STUCK_AFTER_MS: '300' }, dir);
    const failed = await waitFor(async () => {
      const read = await readLivestream(second, orphan.id);
      return read?.status === 'FAILED' && read;
    });
    expect(failed.failureReason).toMatch(/start call to CLOUDFLARE never answered/);
    expect(failed.history.at(-1)).toMatchObject({ status: 'FAILED', source: 'POLL', applied: true });
    const again = await startLivestream(second, { roomId: 'crash-room' });
    expect(again.status).toBe('STARTING');
  });
});

describe('a process restart', () => {
  it('releases the leases it holds, then resumes polling at once and heals what changed meanwhile', async () => {
    const dir = sharedDir();
    const first = await boot({ POLL_INTERVAL_MS: '50', SHUTDOWN_TIMEOUT_MS: '100' }, dir);
    const livestream = await startLivestream(first, { roomId: 'restart-room' });
    // Stop while a read is in flight and outlasts the shutdown wait: its lease must still be released.
    cf.readDelayMs = 400;
    try {
      await waitFor(() => first.app.poller.inFlightCount > 0);
      await first.stop();
    } finally {
      cf.readDelayMs = 0;
    }
    // While the service is down the livestream goes live and ends; its webhooks are lost.
    cf.setLivestreamStatus(livestream.externalId, 'LIVE');
    cf.setLivestreamStatus(livestream.externalId, 'IDLE', { active: false });

    // An hour between polls, and a 2-minute lease: only resuming at boot, with the lease free, can
    // explain a quick heal.
    const second = await boot({ POLL_INTERVAL_MS: '3600000' }, dir);
    const client = wsClient(second.wsUrl);
    try {
      const watch = collect(client, WATCH_LIVESTREAM, { id: livestream.id });
      await watch.completed;
      const last = watch.events.at(-1)?.livestreamChanged;
      expect(last.status).toBe('STOPPED');
      expect(last.history.at(-1)).toEqual({ status: 'STOPPED', source: 'POLL' });
    } finally {
      await client.dispose();
    }
  });
});

describe('polling configuration', () => {
  const problems = (env: Record<string, string>): string[] => {
    try {
      loadConfig(env);
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
    return [];
  };

  it('has defaults below the vendors limits and derives the cap from the base interval', () => {
    const { polling } = loadConfig({});
    expect(polling).toMatchObject({ intervalMs: 5000, maxIntervalMs: 60_000, stuckAfterMs: 600_000 });
    expect(polling.budget.CLOUDFLARE / polling.budgetWindowMs).toBeLessThan(250 / 10_000);
    expect(loadConfig({ POLL_INTERVAL_MS: '50' }).polling.maxIntervalMs).toBe(600);
  });

  it('names every malformed or inconsistent polling variable', () => {
    const found = problems({ POLL_BUDGET_CLOUDFLARE: '0', POLL_JITTER_PERCENT: 'lots', POLL_STUCK_AFTER_MS: '-1' });
    expect(found.join('\n')).toMatch(/POLL_JITTER_PERCENT[\s\S]*POLL_STUCK_AFTER_MS[\s\S]*POLL_BUDGET_CLOUDFLARE/);
    expect(problems({ POLL_INTERVAL_MS: '1000', POLL_MAX_INTERVAL_MS: '500' })[0]).toContain('POLL_MAX_INTERVAL_MS');
    expect(problems({ POLL_LEASE_MS: '5000', VENDOR_TIMEOUT_MS: '5000' })[0]).toContain('POLL_LEASE_MS');
  });
});
