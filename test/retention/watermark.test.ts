import pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import { type Change, current, cycle, expectHistoryAfter, start, stop, WATCH_ID } from '../continuity/support.js';
import { collect, startServer, TEST_STORE, type TestServer, waitFor, wsClient } from '../helpers.js';
import { age, storedHistory } from './support.js';

/**
 * The retention watermark is a change-log position: the highest *applied* history row pruned. A
 * refused row (a report that would step a stream back) is no change, and on PostgreSQL it takes
 * its id without the change-log lock, so its id may be above an applied change still committing.
 * Had the watermark been raised to it, a cursor given at the watermark (a stream idle since
 * before it) would resume past that change, and its subscriber never get it.
 */

const servers: TestServer[] = [];
/** Commits held (holdCommits): let go before the servers stop, whatever the test's outcome. */
const holds: { release(): Promise<void> }[] = [];
afterEach(async () => {
  for (const hold of holds.splice(0)) await hold.release();
  for (const server of servers.splice(0)) await server.cleanup();
});

/** What a vendor reports about a stream, through the intake its webhooks reach. */
async function report(server: TestServer, id: string, status: string, vendorStatus: string): Promise<void> {
  const stream = await server.app.services.store.streams.get('livestream', id);
  if (!stream?.externalId) throw new Error(`no vendor id for ${id}`);
  await server.app.intake.receive({
    provider: 'SANDBOX',
    kind: 'livestream',
    externalId: stream.externalId,
    roomId: stream.roomId,
    eventId: `${id}:${vendorStatus}`,
    observation: { status: status as 'LIVE', vendorStatus },
    payload: { type: `livestream.${vendorStatus}` },
  });
}

const HOLD_KEY = 770_011;

/**
 * On PostgreSQL, makes the next applied change of `streamId` wait between taking its position and
 * committing, as a slow replica's commit would: a trigger on the history table makes its
 * transaction wait for an advisory lock this test holds until `release`.
 */
async function holdCommits(dbPath: string, streamId: string) {
  const client = new pg.Client({ connectionString: dbPath });
  await client.connect();
  await client.query(`create function test_hold() returns trigger language plpgsql as $$ begin
    if new.applied and new.stream_id = '${streamId}' then perform pg_advisory_xact_lock(${HOLD_KEY}); end if;
    return new; end $$`);
  await client.query(
    'create trigger test_hold after insert on status_events for each row execute function test_hold()',
  );
  await client.query('select pg_advisory_lock($1)', [HOLD_KEY]);
  let released = false;
  const hold = {
    /** True once a change waits, its position taken. */
    async waiting(): Promise<boolean> {
      const result = await client.query(
        "select count(*)::int as n from pg_locks where locktype = 'advisory' and objid = $1 and not granted",
        [HOLD_KEY],
      );
      return result.rows[0].n > 0;
    },
    async release(): Promise<void> {
      if (released) return;
      released = true;
      await client.query('select pg_advisory_unlock($1)', [HOLD_KEY]);
      await client.end();
    },
  };
  holds.push(hold);
  return hold;
}

it('raises the watermark to the last applied change pruned, never to a refused row above a change still committing', async () => {
  const server = await startServer({ SANDBOX_STEP_MS: '5' });
  servers.push(server);
  const live = await start(server.url, 'room-live');
  await waitFor(async () => (await current(server.url, live.id)).status === 'LIVE');
  const ended = await cycle(server.url, 'room-ended');

  // A change of the live stream, slow to commit: on PostgreSQL held with its position taken.
  const hold = TEST_STORE === 'postgres' ? await holdCommits(server.dbPath, live.id) : null;
  const slow = report(server, live.id, 'LIVE', 'live-again');
  if (hold) await waitFor(() => hold.waiting());
  else await slow;
  // Meanwhile a late report about the ended stream: refused, kept in history after its final state.
  await report(server, ended, 'LIVE', 'live-late');
  await age(server.dbPath, 'livestream', [ended], 91);
  const { watermark } = await server.app.retention.run();
  const rows = await storedHistory(server.dbPath, ended);
  expect(rows.at(-1)).toMatchObject({ status: 'LIVE', applied: 0 });
  expect(watermark).toBe(Math.max(...rows.filter((row) => row.applied === 1).map((row) => row.id)));

  // A client reads the live stream and resumes from its cursor: it gets every change after what it read.
  const read = await current(server.url, live.id);
  const client = wsClient(server.wsUrl);
  const watch = collect<{ livestreamChanged: Change }>(client, WATCH_ID, { id: live.id, after: read.changeCursor });
  await hold?.release();
  await slow;
  await stop(server.url, live.id);
  await watch.completed;
  expect(watch.errors).toEqual([]);
  const received = watch.events.map((event) => event.livestreamChanged);
  await expectHistoryAfter(server.url, received, new Map([[live.id, read.version]]), [live.id]);
  await client.dispose();
});
