import { afterEach, describe, expect, it } from 'vitest';
import { collect, gql, startServer, type TestServer, tempDir, waitFor, wsClient } from '../helpers.js';
import {
  type Change,
  current,
  cycle,
  expectHistoryAfter,
  lastVersions,
  start,
  stop,
  WATCH_ID,
  WATCH_ROOM,
} from './support.js';

const servers: TestServer[] = [];
async function serve(dir?: string): Promise<TestServer> {
  const server = await startServer({ SANDBOX_STEP_MS: '5' }, dir ? { dir } : {});
  servers.push(server);
  return server;
}
afterEach(async () => {
  for (const server of servers.splice(0)) await server.cleanup();
});

describe('resuming with after', () => {
  it('query, then subscribe with the returned cursor while changes are made: nothing lost or doubled', async () => {
    const server = await serve();
    const { id } = await start(server.url, 'race-room');
    const read = await current(server.url, id);
    // Changes go on between the query and the subscription, and while it catches up.
    const writer = (async () => {
      await waitFor(async () => (await current(server.url, id)).status === 'LIVE');
      await stop(server.url, id);
    })();
    const client = wsClient(server.wsUrl);
    const watch = collect<{ livestreamChanged: Change }>(client, WATCH_ID, { id, after: read.changeCursor });
    await writer;
    await watch.completed;
    const received = watch.events.map((event) => event.livestreamChanged);
    expect(received.at(-1)?.status).toBe('STOPPED');
    await expectHistoryAfter(server.url, received, new Map([[id, read.version]]), [id]);
    await client.dispose();
  });

  it('a room subscriber that drops gets exactly the changes it missed, then live ones', async () => {
    const server = await serve();
    const room = 'room-drop';
    const first = wsClient(server.wsUrl);
    const before = collect<{ livestreamChanged: Change }>(first, WATCH_ROOM, { roomId: room });
    const seenIds = [await cycle(server.url, room)];
    await waitFor(() => before.events.at(-1)?.livestreamChanged.status === 'STOPPED');
    await first.dispose();
    const seen = before.events.map((event) => event.livestreamChanged);
    const cursor = seen.at(-1)?.changeCursor;

    // Dozens of changes while it is away: streams one after the other in the room, and in another room.
    const missedIds: string[] = [];
    for (let i = 0; i < 8; i++) missedIds.push(await cycle(server.url, room));
    await cycle(server.url, 'another-room');

    const second = wsClient(server.wsUrl);
    const after = collect<{ livestreamChanged: Change }>(second, WATCH_ROOM, { roomId: room, after: cursor });
    const ids = [...seenIds, ...missedIds];
    const histories = await Promise.all(missedIds.map((id) => current(server.url, id)));
    const missed = histories.reduce((n, h) => n + h.version, 0);
    expect(missed).toBeGreaterThanOrEqual(24);
    await after.waitFor(missed);
    // Then live.
    const liveId = await cycle(server.url, room);
    await waitFor(
      () =>
        after.events.at(-1)?.livestreamChanged.status === 'STOPPED' &&
        after.events.at(-1)?.livestreamChanged.id === liveId,
    );
    const received = after.events.map((event) => event.livestreamChanged);
    await expectHistoryAfter(server.url, received, lastVersions(seen), [...ids, liveId]);
    expect(after.errors).toEqual([]);
    await second.dispose();
  });

  it('by id: the changes after the cursor, completing at the final state; at once when already final', async () => {
    const server = await serve();
    const { id, version, changeCursor } = await start(server.url, 'room-by-id');
    await waitFor(async () => (await current(server.url, id)).status === 'LIVE');
    await stop(server.url, id);
    await waitFor(async () => (await current(server.url, id)).status === 'STOPPED');

    const client = wsClient(server.wsUrl);
    const resumed = collect<{ livestreamChanged: Change }>(client, WATCH_ID, { id, after: changeCursor });
    await resumed.completed;
    const received = resumed.events.map((event) => event.livestreamChanged);
    expect(received.at(-1)?.status).toBe('STOPPED');
    await expectHistoryAfter(server.url, received, new Map([[id, version]]), [id]);

    const final = await current(server.url, id);
    const atFinal = collect(client, WATCH_ID, { id, after: final.changeCursor });
    await atFinal.completed;
    expect(atFinal.events).toEqual([]);
    expect(atFinal.errors).toEqual([]);
    await client.dispose();
  });

  it('cursors survive a restart on the same database', async () => {
    const dir = tempDir();
    const server = await serve(dir);
    const ids = [await cycle(server.url, 'room-restart')];
    const cursorBefore = (await current(server.url, ids[0] as string)).changeCursor;
    ids.push(await cycle(server.url, 'room-restart'));
    await server.stop();

    const again = await serve(dir);
    const listed = await gql(
      again.url,
      '{ livestreams(first: 10, roomId: "room-restart") { edges { node { id changeCursor } } } }',
    );
    expect(listed.data?.livestreams.edges.map((edge: { node: { id: string } }) => edge.node.id).sort()).toEqual(
      [...ids].sort(),
    );
    const client = wsClient(again.wsUrl);
    const resumed = collect<{ livestreamChanged: Change }>(client, WATCH_ROOM, {
      roomId: 'room-restart',
      after: cursorBefore,
    });
    const secondVersion = (await current(again.url, ids[1] as string)).version;
    await resumed.waitFor(secondVersion);
    const seen = new Map([[ids[0] as string, (await current(again.url, ids[0] as string)).version]]);
    await expectHistoryAfter(
      again.url,
      resumed.events.map((event) => event.livestreamChanged),
      seen,
      ids,
    );
    await client.dispose();
  });
});
