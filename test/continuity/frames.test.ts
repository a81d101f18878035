import { MessageType, stringifyMessage } from 'graphql-ws';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { gql, startServer, type TestServer, waitFor } from '../helpers.js';
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
});
