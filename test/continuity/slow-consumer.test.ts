import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, expect, it } from 'vitest';
import WebSocket from 'ws';
import { collect, LIVESTREAM_FIELDS, startServer, TEST_STORE, type TestServer, waitFor, wsClient } from '../helpers.js';
import { type Change, current, expectHistoryAfter, start, vendorChanges, WATCH_ROOM } from './support.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.cleanup();
});

// A full collection before each reading, so the figure is what the server still holds.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
function heldMemory(): number {
  for (let i = 0; i < 3; i++) collectGarbage();
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
}

const ROOM = 'slow-room';
const SUBSCRIPTIONS = 50;
// Thousands of changes on SQLite, as issue 12 asks (30 MB of frames for the paused socket, were it
// unbounded). On PostgreSQL each is a networked durable commit: on a loaded machine 1,000 of them
// took longer than the server's 30 s close handshake and the paused client then read 1006 instead of
// the 1013, so it sends 400 changes padded to about 2.6 KB a frame, as many bytes in fewer commits.
const CHANGES = TEST_STORE === 'postgres' ? 400 : 3000;
const PADDING = TEST_STORE === 'postgres' ? '.'.repeat(2048) : '';

/** A raw graphql-transport-ws socket, acknowledged, with `SUBSCRIPTIONS` room subscriptions. */
async function slowSubscriber(url: string) {
  const socket = new WebSocket(url, 'graphql-transport-ws');
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  const received: Change[] = [];
  const acked = new Promise<void>((resolve) => {
    socket.on('message', (data) => {
      const message = JSON.parse(String(data));
      if (message.type === 'connection_ack') resolve();
      // What the client got, in the order it read it, on its first subscription.
      if (message.type === 'next' && message.id === '0') received.push(message.payload.data.livestreamChanged);
    });
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.once('close', (code, reason) => resolve({ code, reason: String(reason) }));
  });
  socket.send(JSON.stringify({ type: 'connection_init' }));
  await acked;
  const query = `subscription { livestreamChanged(roomId: "${ROOM}") { ${LIVESTREAM_FIELDS} changeCursor } }`;
  for (let i = 0; i < SUBSCRIPTIONS; i++) {
    socket.send(JSON.stringify({ id: String(i), type: 'subscribe', payload: { query } }));
  }
  return { socket, received, closed };
}

it(
  'a WebSocket that stops reading is closed with 1013, holds the server to a bounded memory, delays no one, and resumes completely with its last cursor',
  async () => {
    server = await startServer({ SANDBOX_STEP_MS: '5', WS_MAX_BUFFERED_BYTES: String(512 * 1024) });
    const live = server;
    const { id, version } = await start(live.url, ROOM);
    await waitFor(async () => (await current(live.url, id)).status === 'LIVE');
    const listening = live.app.services.events.subscriberCount;

    const reader = wsClient(live.wsUrl);
    const reading = collect<{ livestreamChanged: Change }>(reader, WATCH_ROOM, { roomId: ROOM });
    const slow = await slowSubscriber(live.wsUrl);
    await waitFor(() => live.app.services.events.subscriberCount >= listening + 1 + SUBSCRIPTIONS);
    const from = (await current(live.url, id)).version;
    slow.socket.pause();

    const baseline = heldMemory();
    // Hundreds of large changes while it reads nothing: unbounded, the server would hold every frame
    // of its 50 subscriptions for it, as long as it stays connected.
    await vendorChanges(live, id, CHANGES, 25, PADDING);
    const grown = heldMemory() - baseline;
    slow.socket.resume();
    const { code, reason } = await slow.closed;
    console.log(
      `slow consumer: closed ${code} (${reason}) after ${slow.received.length} of ${CHANGES} changes; ` +
        `server memory after the flood (with the slow socket still unread): ${(grown / 1024 / 1024).toFixed(1)} MB more`,
    );
    expect(code).toBe(1013);
    expect(reason).toBe('slow consumer');
    expect(slow.received.length).toBeLessThan(CHANGES);
    expect(grown).toBeLessThan(16 * 1024 * 1024);

    // The subscriber that reads got every change, as history has them.
    const final = await current(live.url, id);
    await reading.waitFor(final.version - from);
    await expectHistoryAfter(
      live.url,
      reading.events.map((event) => event.livestreamChanged),
      new Map([[id, from]]),
      [id],
    );
    expect(final.version - version).toBeGreaterThanOrEqual(CHANGES);

    // The slow client comes back with the last cursor it got: every change it missed, once, in order.
    const last = slow.received.at(-1) as Change;
    const back = wsClient(live.wsUrl);
    const resumed = collect<{ livestreamChanged: Change }>(back, WATCH_ROOM, {
      roomId: ROOM,
      after: last.changeCursor,
    });
    await resumed.waitFor(final.version - last.version, 30_000);
    await expectHistoryAfter(
      live.url,
      resumed.events.map((event) => event.livestreamChanged),
      new Map([[id, last.version]]),
      [id],
    );
    await reader.dispose();
    await back.dispose();
  },
  TEST_STORE === 'postgres' ? 180_000 : 60_000,
);
