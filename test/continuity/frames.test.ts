import { MessageType, stringifyMessage } from 'graphql-ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { gql, startServer, storedRows, type TestServer, waitFor } from '../helpers.js';
import { current, start, vendorChanges } from './support.js';

// The text of each `next` frame a subscriber receives, as graphql-ws' own server would write it
// (`stringifyMessage`): the service builds frames itself (src/fanout/protocol.ts), replayed
// changes and live ones alike, for selections its plan executes and for those graphql-js does.
const LEAVES = `__typename id key: id provider roomId externalId status vendorStatus version failureReason
  startedAt stoppedAt createdAt updatedAt changeCursor playbackUrl`;
const watch = (fields: string) => `subscription($roomId: String, $after: String) {
  livestreamChanged(roomId: $roomId, after: $after) { ${fields} }
}`;
/** Operation ids and vendor statuses that JSON has to escape. */
const IDS = { plain: 'plain "1" \\ é', nested: 'nested\n😀' };
const ODD = ' "quoted" \\ back\nslash é 😀 \u2028';

const servers: TestServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.cleanup();
});

/** A raw graphql-transport-ws socket: every text frame the server sends, as received. */
async function rawSocket(url: string): Promise<{ socket: WebSocket; frames: string[] }> {
  const socket = new WebSocket(url, 'graphql-transport-ws');
  const frames: string[] = [];
  socket.on('message', (data) => frames.push(String(data)));
  await new Promise((resolve, reject) => {
    socket.once('open', resolve);
    socket.once('error', reject);
  });
  socket.send(JSON.stringify({ type: MessageType.ConnectionInit }));
  await waitFor(() => frames.some((frame) => frame.includes('connection_ack')));
  return { socket, frames };
}

describe('the next frames of a subscription', () => {
  it('are the text graphql-ws writes for their payload, replayed or live, planned or not', async () => {
    const server = await startServer({ SANDBOX_STEP_MS: '5' });
    servers.push(server);
    const room = 'frames-room';
    const first = await start(server.url, room);
    await waitFor(async () => (await current(server.url, first.id)).status === 'LIVE');
    await vendorChanges(server, first.id, 5, 1, ODD);
    const { socket, frames } = await rawSocket(server.wsUrl);
    const subscribe = (id: string, query: string) =>
      socket.send(
        JSON.stringify({
          id,
          type: MessageType.Subscribe,
          payload: { query, variables: { roomId: room, after: first.changeCursor } },
        }),
      );
    subscribe(IDS.plain, watch(LEAVES));
    subscribe(IDS.nested, watch(`${LEAVES} ingest { rtmpUrl streamKey }`));
    // Replayed so far; then live ones.
    await vendorChanges(server, first.id, 3, 1, ODD);
    const last = await current(server.url, first.id);
    const expected = last.version - first.version;
    const next = (id: string) =>
      frames
        .map((frame) => JSON.parse(frame) as { id?: string; type: string; payload: unknown })
        .filter((message) => message.type === 'next' && message.id === id);
    await waitFor(() => next(IDS.plain).length === expected && next(IDS.nested).length === expected);

    const nextFrames = frames.filter((frame) => frame.startsWith('{"id"'));
    expect(nextFrames).toHaveLength(2 * expected);
    for (const frame of nextFrames) expect(frame).toBe(stringifyMessage(JSON.parse(frame)));
    expect(frames.some((frame) => frame.includes('"type":"error"'))).toBe(false);

    // The last frame is what a query of the final state gives, framed as graphql-ws frames it.
    const query = await gql(server.url, `query($id: ID!) { livestream(id: $id) { ${LEAVES} } }`, { id: first.id });
    const lastPlain = frames.filter((frame) => frame.startsWith(JSON.stringify({ id: IDS.plain }).slice(0, -1))).at(-1);
    expect(lastPlain).toBe(
      stringifyMessage({
        id: IDS.plain,
        type: MessageType.Next,
        payload: { data: { livestreamChanged: query.data?.livestream } },
      }),
    );
    expect(query.data?.livestream?.vendorStatus).toBe(`live-2${ODD}`);
    socket.close();
  });

  it("of a replay written from the snapshots' text are graphql-js' own, and old rows still replay", async () => {
    const server = await startServer({ SANDBOX_STEP_MS: '5' });
    servers.push(server);
    const room = 'spliced-room';
    const first = await start(server.url, room);
    await waitFor(async () => (await current(server.url, first.id)).status === 'LIVE');
    await vendorChanges(server, first.id, 12, 1, ODD);
    const expected = (await current(server.url, first.id)).version - first.version;
    const rows = await storedRows<{ id: number }>(
      server.dbPath,
      'select id from status_events where stream_id = ? and snapshot is not null order by id',
      [first.id],
    );
    const [old, foreign] = rows.slice(-2);
    // A row from before the log kept snapshots (SQLite puts it together with `json_array`, PostgreSQL
    // gives the current row), and a snapshot whose é another writer escaped.
    await storedRows(server.dbPath, 'update status_events set snapshot = null where id = ?', [old?.id]);
    await storedRows(server.dbPath, 'update status_events set snapshot = replace(snapshot, ?, ?) where id = ?', [
      'é',
      '\\u00e9',
      foreign?.id,
    ]);
    const snapshots = await storedRows<{ snapshot: string }>(
      server.dbPath,
      'select snapshot from status_events where id = ?',
      [foreign?.id],
    );
    expect(snapshots[0]?.snapshot).toContain('\\u00e9');

    const { socket, frames } = await rawSocket(server.wsUrl);
    const subscribe = (id: string, query: string) =>
      socket.send(
        JSON.stringify({
          id,
          type: MessageType.Subscribe,
          payload: { query, variables: { roomId: room, after: first.changeCursor } },
        }),
      );
    const framesOf = (id: string) => {
      const prefix = JSON.stringify({ id }).slice(0, -1);
      return frames.filter((frame) => frame.startsWith(prefix)).map((frame) => frame.slice(prefix.length));
    };
    // The replayed frames of a selection of the row's elements are spliced from the snapshots'
    // text: a row is parsed into a record only for the first change (its changeCursor waits for
    // the pruned watermark's first read: graphql-js executes it) and for the old row.
    const parse = vi.spyOn(JSON, 'parse');
    try {
      subscribe('spliced', watch(LEAVES));
      await waitFor(() => framesOf('spliced').length === expected);
      const rowsParsed = parse.mock.calls.filter(([text]) => typeof text === 'string' && /^ ?\["/.test(text));
      expect(rowsParsed.length).toBeLessThanOrEqual(2);
    } finally {
      parse.mockRestore();
    }
    // The same selection with a directive is executed by graphql-js: the same text, frame by frame.
    subscribe('executed', watch(LEAVES.replace('id', 'id @include(if: true)')));
    // One the plan does not take (a nested object) is executed from the record, as before.
    subscribe('fallback', watch('key: id vendorStatus ingest { rtmpUrl }'));
    await waitFor(() => framesOf('executed').length === expected && framesOf('fallback').length === expected);
    expect(framesOf('spliced')).toEqual(framesOf('executed'));
    for (const frame of frames.filter((f) => f.startsWith('{"id"')))
      expect(frame).toBe(stringifyMessage(JSON.parse(frame)));
    const vendorStatuses = framesOf('fallback').map(
      (frame) => JSON.parse(`{"id":""${frame}`).payload.data.livestreamChanged.vendorStatus,
    );
    expect(vendorStatuses.slice(-12)).toEqual(Array.from({ length: 12 }, (_, i) => `live-${i}${ODD}`));
    expect(frames.some((frame) => frame.includes('"type":"error"'))).toBe(false);
    socket.close();
  });
});
