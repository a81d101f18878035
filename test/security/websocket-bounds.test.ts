import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  collect,
  gql,
  LIVESTREAM_FIELDS,
  START_LIVESTREAM,
  startServer,
  type TestServer,
  waitFor,
  wsClient,
} from '../helpers.js';
import { closed, LARGE_QUERY, rawSocket } from './support.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer({
    SANDBOX_STEP_MS: '60000',
    WS_MAX_MESSAGES_PER_SECOND: '150',
    WS_MAX_PENDING_INIT: '3',
    WS_MAX_BUFFERED_BYTES: String(1024 * 1024),
  });
});
afterAll(async () => {
  await server.cleanup();
});

/** Opens a raw graphql-transport-ws socket without sending anything. */
function open(url: string): Promise<WebSocket> {
  const socket = new WebSocket(url, 'graphql-transport-ws');
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('WebSocket bounds', () => {
  it('closes a socket that asks many large queries without reading with 1013 (slow consumer)', async () => {
    const { socket, outcome } = await rawSocket(server.wsUrl);
    expect(outcome).toBe('ack');
    socket.pause();
    let answers = 0;
    socket.on('message', (data) => {
      if (JSON.parse(String(data)).type === 'next') answers++;
    });
    for (let i = 0; i < 100; i++) {
      socket.send(JSON.stringify({ id: String(i), type: 'subscribe', payload: { query: LARGE_QUERY } }));
    }
    // Give the server time to answer everything it would answer while nothing is read.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const closing = closed(socket);
    socket.resume();
    const { code, reason } = await closing;
    console.log(`slow consumer: closed ${code} (${reason}) after ${answers} of 100 answers`);
    expect(code).toBe(1013);
    expect(reason).toBe('slow consumer');
    expect(answers).toBeLessThan(100);
    // The service goes on serving others.
    expect((await gql(server.url, '{ providers { provider } }')).status).toBe(200);
  });

  it("counts the events queued for a socket's subscriptions: a subscriber that stops reading is closed with 1013, one that reads is not", async () => {
    const start = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'backlog-room' } });
    const stream = start.data?.startLivestream.livestream;
    const reader = wsClient(server.wsUrl);
    const reading = collect(
      reader,
      `subscription { livestreamChanged(roomId: "backlog-room") { ${LIVESTREAM_FIELDS} } }`,
    );
    const events = server.app.services.events;
    const { socket } = await rawSocket(server.wsUrl);
    socket.send(
      JSON.stringify({
        id: 'slow',
        type: 'subscribe',
        payload: { query: `subscription { livestreamChanged(roomId: "backlog-room") { ${LIVESTREAM_FIELDS} } }` },
      }),
    );
    await waitFor(() => events.subscriberCount >= 2);
    socket.pause();
    const record = (await server.app.services.store.streams.get('livestream', stream.id))!;
    // Changes arrive in bursts of 200 with a pause between: a reader keeps up, the paused socket
    // fills its TCP buffers, then its subscription's queue.
    let sent = 0;
    const slowClosed = closed(socket);
    for (let burst = 0; burst < 100; burst++) {
      for (let i = 0; i < 200; i++)
        server.app.services.events.publish({ kind: 'livestream', stream: record, created: false });
      sent += 200;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    socket.resume();
    const { code, reason } = await slowClosed;
    console.log(`queued events: slow subscriber closed ${code} (${reason}) after ${sent} changes`);
    expect(code).toBe(1013);
    expect(reason).toBe('slow consumer');
    await reading.waitFor(sent);
    expect(reading.errors).toEqual([]);
    await reader.dispose();
  });

  it('closes a socket that sends more frames per second than WS_MAX_MESSAGES_PER_SECOND with 4429', async () => {
    const { socket, outcome } = await rawSocket(server.wsUrl);
    expect(outcome).toBe('ack');
    const closing = closed(socket);
    for (let i = 0; i < 400; i++) socket.send(JSON.stringify({ type: 'ping' }));
    const { code, reason } = await closing;
    expect(code).toBe(4429);
    expect(reason).toBe('Too many messages');
  });

  it('sends nothing before the connection is acknowledged: pings before connection_init get no pong', async () => {
    const socket = await open(server.wsUrl);
    const messages: string[] = [];
    socket.on('message', (data) => messages.push(JSON.parse(String(data)).type));
    for (let i = 0; i < 20; i++) socket.send(JSON.stringify({ type: 'ping' }));
    const acked = new Promise((resolve) => socket.once('message', resolve));
    socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    await acked;
    socket.send(JSON.stringify({ type: 'ping' }));
    await new Promise<void>((resolve) => {
      const check = () => (messages.includes('pong') ? resolve() : setTimeout(check, 10));
      check();
    });
    expect(messages).toEqual(['connection_ack', 'pong']);
    socket.close();
  });

  it('refuses a new socket while WS_MAX_PENDING_INIT sockets wait for their connection_init (503)', async () => {
    const waiting = await Promise.all([open(server.wsUrl), open(server.wsUrl), open(server.wsUrl)]);
    const refused = await new Promise<number>((resolve) => {
      const socket = new WebSocket(server.wsUrl, 'graphql-transport-ws');
      socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      socket.on('open', () => resolve(101));
    });
    expect(refused).toBe(503);
    // One of them initialises: there is room again.
    const acked = new Promise((resolve) => waiting[0]?.once('message', resolve));
    waiting[0]?.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    await acked;
    const again = await rawSocket(server.wsUrl);
    expect(again.outcome).toBe('ack');
    for (const socket of [...waiting, again.socket]) socket.close();
  });
});
