import { afterEach, expect, it } from 'vitest';
import { collect, startServer, TEST_STORE, type TestServer, waitFor, wsClient } from '../helpers.js';
import { type Change, current, expectHistoryAfter, start, vendorChanges, WATCH_ROOM } from './support.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.cleanup();
});

it(
  'resumes over a long backlog while changes keep being committed: every change once, in order',
  async () => {
    server = await startServer({ SANDBOX_STEP_MS: '5' });
    const live = server;
    const ids: string[] = [];
    for (const room of ['seam-1', 'seam-2', 'seam-3']) {
      const { id } = await start(live.url, room);
      await waitFor(async () => (await current(live.url, id)).status === 'LIVE');
      ids.push(id);
    }
    const before = await Promise.all(ids.map((id) => current(live.url, id)));
    const seen = new Map(ids.map((id, i) => [id, before[i]?.version as number]));
    // The last stream went LIVE last: its cursor is the newest of the three.
    const cursor = before.at(-1)?.changeCursor;
    // A backlog of a thousand changes, then subscribers resume from before it while as many more are
    // committed: the replay and the live changes overlap for many pages.
    for (const id of ids) await vendorChanges(live, id, 350, 350);
    const clients = [0, 1, 2].map(() => wsClient(live.wsUrl));
    const watches = clients.map((client) =>
      collect<{ livestreamChanged: Change }>(client, WATCH_ROOM, { after: cursor }),
    );
    await Promise.all(ids.map((id) => vendorChanges(live, id, 350, 7)));

    const after = await Promise.all(ids.map((id) => current(live.url, id)));
    const expected = after.reduce((n, stream, i) => n + stream.version - (before[i]?.version as number), 0);
    expect(expected).toBe(2100);
    for (const watch of watches) {
      const received = await watch.waitFor(expected, 30_000);
      const changes = received.map((event) => event.livestreamChanged);
      // Only changes of these streams after the cursor: the cursor is the newest of the three.
      const newest = new Map(seen);
      await expectHistoryAfter(live.url, changes, newest, ids);
    }
    for (const client of clients) await client.dispose();
    // Room for 2,100 durable commits on a loaded machine (PostgreSQL's each take round trips and an fsync).
  },
  TEST_STORE === 'postgres' ? 150_000 : 60_000,
);
