import { afterEach, describe, expect, it } from 'vitest';
import { collect, startServer, type TestServer, waitFor, wsClient } from '../helpers.js';
import { age } from '../retention/support.js';
import { type Change, current, cycle, expectHistoryAfter, start, stop, WATCH_ID, WATCH_ROOM } from './support.js';

const servers: TestServer[] = [];
async function serve(): Promise<TestServer> {
  const server = await startServer({ SANDBOX_STEP_MS: '5' });
  servers.push(server);
  return server;
}
afterEach(async () => {
  for (const server of servers.splice(0)) await server.cleanup();
});

interface SseEvent {
  event: string;
  id?: string;
  data: string;
}

/** An SSE subscription over real HTTP, read event by event until `until` says enough. */
async function sse(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  until: (events: SseEvent[]) => boolean,
  headers: Record<string, string> = {},
): Promise<SseEvent[]> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const events: SseEvent[] = [];
  let text = '';
  while (!until(events)) {
    const chunk = await reader.read();
    if (chunk.done) break;
    text += decoder.decode(chunk.value, { stream: true });
    let end = text.indexOf('\n\n');
    while (end >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      end = text.indexOf('\n\n');
      const event: SseEvent = { event: '', data: '' };
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const field = line.slice(0, colon);
        const value = line.slice(colon + 1).trimStart();
        if (field === 'event') event.event = value;
        else if (field === 'id') event.id = value;
        else if (field === 'data') event.data += value;
      }
      if (event.event) events.push(event);
    }
  }
  await reader.cancel();
  return events;
}

const changesOf = (events: SseEvent[]): Change[] =>
  events.filter((e) => e.event === 'next').map((e) => JSON.parse(e.data).data.livestreamChanged as Change);

describe('bad cursors', () => {
  it('malformed: VALIDATION, expired: CURSOR_EXPIRED, over WebSocket with the socket still usable', async () => {
    const server = await serve();
    const { id, changeCursor } = await start(server.url, 'room-bad');
    const other = await cycle(server.url, 'room-other');
    const client = wsClient(server.wsUrl);
    for (const bad of ['nope', '', 'djE6LTE', 'djE6MQ==', Buffer.from('v2:1').toString('base64url')]) {
      const malformed = collect(client, WATCH_ROOM, { roomId: 'room-bad', after: bad });
      await malformed.completed;
      expect(malformed.errors, bad).toMatchObject([{ extensions: { code: 'VALIDATION' } }]);
      expect(malformed.events).toEqual([]);
    }

    // The other stream ended 100 days ago: retention prunes its history, which came after the
    // cursor, so the cursor is older than what is kept.
    await age(server.dbPath, 'livestream', [other], 100);
    expect((await server.app.retention.run()).historyRows).toBeGreaterThan(3);
    const expired = collect(client, WATCH_ROOM, { roomId: 'room-bad', after: changeCursor });
    await expired.completed;
    expect(expired.errors).toMatchObject([{ extensions: { code: 'CURSOR_EXPIRED' } }]);

    // The same socket still serves other operations.
    const fine = collect<{ livestreamChanged: Change }>(client, WATCH_ID, { id });
    await fine.waitFor(1);
    expect(fine.events[0]?.livestreamChanged.id).toBe(id);
    fine.unsubscribe();
    await client.dispose();
  });

  it('malformed and expired cursors over SSE answer the same codes', async () => {
    const server = await serve();
    const { changeCursor } = await start(server.url, 'room-sse-bad');
    const other = await cycle(server.url, 'room-sse-other');
    const done = (events: SseEvent[]) => events.some((e) => e.event === 'complete');
    const malformed = await sse(server.url, WATCH_ROOM, { roomId: 'room-sse-bad', after: 'garbage' }, done);
    expect(JSON.parse(malformed[0]?.data ?? '{}').errors).toMatchObject([{ extensions: { code: 'VALIDATION' } }]);
    await age(server.dbPath, 'livestream', [other], 100);
    expect((await server.app.retention.run()).historyRows).toBeGreaterThan(3);
    const expired = await sse(server.url, WATCH_ROOM, { roomId: 'room-sse-bad', after: changeCursor }, done);
    expect(JSON.parse(expired[0]?.data ?? '{}').errors).toMatchObject([{ extensions: { code: 'CURSOR_EXPIRED' } }]);
  });
});

describe('SSE', () => {
  it('every next event carries id: <changeCursor>, and Last-Event-ID resumes after it', async () => {
    const server = await serve();
    const room = 'room-sse';
    const firstId = await cycle(server.url, room);
    const final = await current(server.url, firstId);
    const completes = (events: SseEvent[]) => events.some((e) => e.event === 'complete');
    // Without a cursor, by id: the snapshot's event id is its cursor.
    const byId = await sse(server.url, WATCH_ID, { id: firstId }, completes);
    expect(byId.filter((e) => e.event === 'next').map((e) => e.id)).toEqual([final.changeCursor]);

    const { id } = await start(server.url, room);
    await waitFor(async () => (await current(server.url, id)).status === 'LIVE');
    const events = await sse(
      server.url,
      WATCH_ROOM,
      { roomId: room, after: final.changeCursor },
      (got) => got.length >= 2,
    );
    const changes = changesOf(events);
    expect(changes.length).toBeGreaterThanOrEqual(2);
    expect(new Set(changes.map((c) => c.id))).toEqual(new Set([id]));
    expect(events.filter((e) => e.event === 'next').map((e) => e.id)).toEqual(changes.map((c) => c.changeCursor));

    // Reconnect as an EventSource does: the same request, with the id of the last event it got.
    await stop(server.url, id);
    await waitFor(async () => (await current(server.url, id)).status === 'STOPPED');
    const resumed = await sse(
      server.url,
      WATCH_ROOM,
      { roomId: room, after: final.changeCursor },
      (got) => changesOf(got).some((c) => c.status === 'STOPPED'),
      { 'last-event-id': events.at(-1)?.id as string },
    );
    await expectHistoryAfter(server.url, changesOf(resumed), new Map([[id, changes.at(-1)?.version as number]]), [id]);
  });
});
