import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gql, START_LIVESTREAM, startServer, type TestServer } from './helpers.js';
import { LIVESTREAM_READ } from './webhooks/support.js';

/**
 * Changes to one stream from concurrent flows (a webhook, a poll, a mutation: on several replicas
 * they run truly side by side) take turns: each reads what the one before wrote, so versions
 * follow one another without repeats, and no change is lost.
 */
describe('concurrent changes to one stream', () => {
  let server: TestServer;
  beforeEach(async () => {
    // The sandbox steps only when told to (an hour): the test's changes are the only ones.
    server = await startServer({ SANDBOX_STEP_MS: '3600000' });
  });
  afterEach(async () => {
    await server.cleanup();
  });

  it('gives each of them its own version', async () => {
    const started = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'concurrent-changes' } });
    const stream = started.data?.startLivestream.livestream as { id: string; version: number };
    const { id, version } = stream;
    const n = 12;
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        server.app.intake.observed('livestream', id, { status: 'LIVE', vendorStatus: `live-${i}` }),
      ),
    );
    const read = (await gql(server.url, LIVESTREAM_READ, { id })).data?.livestream;
    expect(read.version).toBe(version + n);
    const applied = (read.history as { version: number; applied: boolean }[]).filter((event) => event.applied);
    expect(applied.map((event) => event.version)).toEqual(Array.from({ length: version + n }, (_, i) => i + 1));
  });
});
