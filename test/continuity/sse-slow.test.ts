import { request } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { collect, LIVESTREAM_FIELDS, startServer, type TestServer, waitFor, wsClient } from '../helpers.js';
import { type Change, current, expectHistoryAfter, start, vendorChanges, WATCH_ROOM } from './support.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.cleanup();
});

it('an SSE response whose client stops reading ends past the bound; the client resumes from its last event id', async () => {
  server = await startServer({ SANDBOX_STEP_MS: '5', WS_MAX_BUFFERED_BYTES: String(256 * 1024) });
  const live = server;
  const room = 'sse-slow-room';
  const { id } = await start(live.url, room);
  await waitFor(async () => (await current(live.url, id)).status === 'LIVE');
  const listening = live.app.services.events.subscriberCount;
  const from = (await current(live.url, id)).version;

  // A raw HTTP client, so that it truly stops reading (`pause`) and sees where the response ends.
  let text = '';
  let resumeReading = () => {};
  const body = JSON.stringify({
    query: `subscription { livestreamChanged(roomId: "${room}") { ${LIVESTREAM_FIELDS} changeCursor } }`,
  });
  const ended = new Promise<void>((resolve, reject) => {
    const req = request(live.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    });
    req.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.pause();
      resumeReading = () => res.resume();
      res.once('end', resolve);
      res.once('error', () => resolve());
      res.once('close', () => resolve());
    });
    req.once('error', reject);
    req.end(body);
  });
  await waitFor(() => live.app.services.events.subscriberCount > listening);
  // Large events (a 32 KB vendor status each), more than the kernel's socket buffers take.
  await vendorChanges(live, id, 500, 25, '.'.repeat(32 * 1024));
  // The subscription ended on the server while the client read nothing.
  await waitFor(() => live.app.services.events.subscriberCount === listening);
  // It reads again: what reached it, then the end.
  resumeReading();
  await ended;
  const ids = [...text.matchAll(/\nid: (\S+)/g)].map((match) => match[1] as string);
  const final = await current(live.url, id);
  console.log(`slow SSE client: response ended after ${ids.length} of ${final.version - from} changes`);
  expect(ids.length).toBeLessThan(final.version - from);

  // Back with the id of the last event it got: every change it missed.
  const last = Number(text.slice(0, text.lastIndexOf('\nid: ')).match(/"version":(\d+)[^\n]*$/)?.[1]);
  const client = wsClient(live.wsUrl);
  const resumed = collect<{ livestreamChanged: Change }>(client, WATCH_ROOM, { roomId: room, after: ids.at(-1) });
  await resumed.waitFor(final.version - last, 30_000);
  await expectHistoryAfter(
    live.url,
    resumed.events.map((event) => event.livestreamChanged),
    new Map([[id, last]]),
    [id],
  );
  await client.dispose();
}, 60_000);
