import { afterEach, expect, it } from 'vitest';
import { type Collected, collect, startServer, type TestServer, waitFor, wsClient } from '../helpers.js';
import { type Change, cycle, expectHistoryAfter, WATCH_ROOM } from './support.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.cleanup();
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('subscribers resuming from cursors of different moments while writers change streams each get exactly the history after their cursor', async () => {
  server = await startServer({ SANDBOX_STEP_MS: '3' });
  const { url, wsUrl } = server;
  const rooms = Array.from({ length: 10 }, (_, i) => `c-${i}`);
  const client = wsClient(wsUrl);
  const events = server.app.services.events;
  const listening = events.subscriberCount;
  // The reference: every livestream change, live, from before the first write.
  const reference = collect<{ livestreamChanged: Change }>(client, WATCH_ROOM, {});
  await waitFor(() => events.subscriberCount > listening);
  const log = () => reference.events.map((event) => event.livestreamChanged);

  const ids: string[] = [];
  const writers = rooms.map(async (room) => {
    for (let i = 0; i < 5; i++) {
      ids.push(await cycle(url, room));
      await pause(Math.random() * 20);
    }
  });

  // Subscribers join at random moments, each from a cursor taken at a random earlier point, some
  // for every room and some for one.
  const resumed: { from: number; roomId: string | null; watch: Collected<{ livestreamChanged: Change }> }[] = [];
  const joining = (async () => {
    for (let i = 0; i < 12; i++) {
      await pause(20 + Math.random() * 80);
      const known = log();
      if (known.length === 0) continue;
      const from = Math.floor(Math.random() * known.length);
      const roomId = i % 2 === 0 ? null : (rooms[Math.floor(Math.random() * rooms.length)] as string);
      const after = known[from]?.changeCursor;
      resumed.push({ from, roomId, watch: collect(wsClient(wsUrl), WATCH_ROOM, { roomId, after }) });
    }
  })();
  await Promise.all([...writers, joining]);

  // The reference itself is every stream's history, in order.
  await waitFor(() => log().filter((c) => c.status === 'STOPPED').length === ids.length);
  await expectHistoryAfter(url, log(), new Map(), ids);
  const all = log();
  expect(resumed.length).toBeGreaterThanOrEqual(4);
  for (const { from, roomId, watch } of resumed) {
    const expected = all.slice(from + 1).filter((change) => roomId === null || change.roomId === roomId);
    await watch.waitFor(expected.length);
    expect(
      watch.events.map((event) => event.livestreamChanged),
      `from ${from} in ${roomId ?? 'every room'}`,
    ).toEqual(expected);
    expect(watch.errors).toEqual([]);
  }
  await client.dispose();
});
