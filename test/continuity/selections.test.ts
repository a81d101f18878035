import { afterEach, describe, expect, it } from 'vitest';
import { collect, gql, startServer, type TestServer, waitFor, wsClient } from '../helpers.js';
import { current, start, stop } from './support.js';

// A selection of leaf fields only is executed by the service's own plan (src/fanout/event-plan.ts);
// one with a nested object or a directive by graphql-js. A subscriber sees the same either way.
const LEAVES = `__typename id key: id provider roomId externalId status vendorStatus version failureReason
  startedAt stoppedAt createdAt updatedAt changeCursor playbackUrl`;
const watch = (fields: string) => `subscription($roomId: String, $after: String) {
  livestreamChanged(roomId: $roomId, after: $after) { ${fields} }
}`;
const PLAIN = watch(LEAVES);
const NESTED = watch(`${LEAVES} ingest { rtmpUrl }`);
const DIRECTED = watch(`${LEAVES.replace('version', 'version @include(if: true)')}`);

type Event = { livestreamChanged: Record<string, unknown> };
/** What each event shows without its `ingest`, as text: the fields, their values and their order. */
const texts = (events: Event[]) =>
  events.map(({ livestreamChanged: { ingest: _ingest, ...rest } }) => JSON.stringify(rest));

const servers: TestServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.cleanup();
});

describe('the fields of a subscription event', () => {
  it('are the same whatever the shape of the selection, and match a query of the final state', async () => {
    const server = await startServer({ SANDBOX_STEP_MS: '5' });
    servers.push(server);
    const room = 'selection-room';
    const client = wsClient(server.wsUrl);
    // Every change in the room after a first stream's creation, then those after the second's.
    const first = await start(server.url, room);
    const subscriptions = [PLAIN, NESTED, DIRECTED].map((query) =>
      collect<Event>(client, query, { roomId: room, after: first.changeCursor }),
    );
    await waitFor(async () => (await current(server.url, first.id)).status === 'LIVE');
    await stop(server.url, first.id);
    await waitFor(async () => (await current(server.url, first.id)).status === 'STOPPED');
    const { id, version, changeCursor } = await start(server.url, room);
    await waitFor(async () => (await current(server.url, id)).status === 'LIVE');
    await stop(server.url, id);
    const last = await waitFor(async () => {
      const state = await current(server.url, id);
      return state.status === 'STOPPED' ? state : null;
    });
    const of = (events: Event[]) => events.filter((event) => event.livestreamChanged.id === id);
    for (const subscription of subscriptions) await waitFor(() => of(subscription.events).length === last.version);
    const [plain, nested, directed] = subscriptions.map((subscription) => subscription.events) as [
      Event[],
      Event[],
      Event[],
    ];
    expect(texts(nested)).toEqual(texts(plain));
    expect(texts(directed)).toEqual(texts(plain));
    expect(of(plain).map((event) => event.livestreamChanged.version)).toEqual(
      Array.from({ length: last.version }, (_, i) => i + 1),
    );

    const resumed = [PLAIN, NESTED].map((query) =>
      collect<Event>(client, query, { roomId: room, after: changeCursor }),
    );
    for (const subscription of resumed) await waitFor(() => subscription.events.length === last.version - version);
    const [resumedPlain, resumedNested] = resumed.map((subscription) => subscription.events) as [Event[], Event[]];
    expect(texts(resumedNested)).toEqual(texts(resumedPlain));
    // Resumed from the second stream's creation: its later changes, as the first subscribers saw them.
    expect(texts(resumedPlain)).toEqual(texts(of(plain).slice(version)));

    const query = await gql(server.url, `query($id: ID!) { livestream(id: $id) { ${LEAVES} } }`, { id });
    expect(JSON.stringify(query.data?.livestream)).toBe(texts(of(plain)).at(-1));
    for (const subscription of [...subscriptions, ...resumed]) expect(subscription.errors).toEqual([]);
    await client.dispose();
  });
});
