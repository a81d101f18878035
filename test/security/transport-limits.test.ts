import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { collect, gql, START_LIVESTREAM, startServer, type TestServer, waitFor, wsClient } from '../helpers.js';
import { closed, rawSocket } from './support.js';

const MiB = 1024 * 1024;
let server: TestServer;

beforeAll(async () => {
  server = await startServer({ SANDBOX_STEP_MS: '60000', WS_INIT_TIMEOUT_MS: '300' });
});
afterAll(async () => {
  await server.cleanup();
});

/** POSTs `body` over a raw HTTP request (optionally chunked, without Content-Length). */
function post(body: Buffer, chunked = false): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(server.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': body.length }),
      },
    });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    // The server may close before reading everything: the answer still arrives first.
    req.on('error', reject);
    if (chunked) {
      for (let offset = 0; offset < body.length; offset += 64 * 1024)
        req.write(body.subarray(offset, offset + 64 * 1024));
      req.end();
    } else {
      req.end(body);
    }
  });
}

/** A valid GraphQL request of about `size` bytes (the padding is an unused variable). */
function requestOfSize(size: number): Buffer {
  const base = JSON.stringify({ query: '{ providers { provider } }', variables: { pad: '' } });
  return Buffer.from(
    JSON.stringify({ query: '{ providers { provider } }', variables: { pad: 'x'.repeat(size - base.length) } }),
  );
}

describe('request body limit on /graphql (1 MiB)', () => {
  it('serves a body just under 1 MiB', async () => {
    const body = requestOfSize(MiB - 100);
    const result = await post(body);
    expect(result.status).toBe(200);
    expect(JSON.parse(result.text).data.providers).toHaveLength(6);
    const chunked = await post(body, true);
    expect(chunked.status).toBe(200);
  });

  it('answers 413 to a larger body, by Content-Length or once it has read too much', async () => {
    const body = requestOfSize(MiB + 100);
    const declared = await post(body);
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.text).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    const chunked = await post(body, true).catch((error: Error) => ({ status: -1, text: error.message }));
    expect(chunked.status).toBe(413);
    // And keeps serving.
    expect((await gql(server.url, '{ providers { provider } }')).status).toBe(200);
  });
});

describe('WebSocket message limit (maxPayload 1 MiB)', () => {
  it('accepts a message under 1 MiB and closes the socket on a larger one (1009)', async () => {
    const { socket, outcome } = await rawSocket(server.wsUrl);
    expect(outcome).toBe('ack');
    const pong = new Promise<string>((resolve) => socket.once('message', (data) => resolve(String(data))));
    socket.send(JSON.stringify({ type: 'ping', payload: { pad: 'x'.repeat(MiB - 1024) } }));
    expect(JSON.parse(await pong).type).toBe('pong');

    const closing = closed(socket);
    socket.send(JSON.stringify({ type: 'ping', payload: { pad: 'x'.repeat(MiB + 1) } }));
    expect((await closing).code).toBe(1009);
  });
});

describe('graphql-ws connection_init timeout', () => {
  it('closes a socket that never sends connection_init with 4408, and acknowledges one that does', async () => {
    const silent = await rawSocket(server.wsUrl, { init: false });
    expect(silent.outcome).toBe('closed');
    expect(silent.code).toBe(4408);

    const polite = await rawSocket(server.wsUrl);
    expect(polite.outcome).toBe('ack');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(polite.socket.readyState).toBe(WebSocket.OPEN);
    polite.socket.close();
  });
});

describe('subscriptions per connection (MAX_SUBSCRIPTIONS_PER_CONNECTION, default 100)', () => {
  it('refuses the 101st subscription on a socket while the other 100 keep working', async () => {
    const client = wsClient(server.wsUrl);
    const watches = Array.from({ length: 100 }, () =>
      collect(client, 'subscription { livestreamChanged(roomId: "cap-room") { roomId status } }'),
    );
    // Let the server register all 100 before the extra one arrives.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const extra = collect(client, 'subscription { livestreamChanged(roomId: "cap-room") { roomId } }');
    await extra.completed;
    expect(JSON.stringify(extra.errors)).toMatch(/Too many subscriptions on this connection \(at most 100\)/);

    await gql(server.url, START_LIVESTREAM, { input: { roomId: 'cap-room' } });
    await waitFor(() => watches.every((watch) => watch.events.length >= 1));
    expect(watches.every((watch) => watch.errors.length === 0)).toBe(true);

    // Once one ends, there is room again.
    watches[0]?.unsubscribe();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = collect(client, 'subscription { livestreamChanged(roomId: "cap-room-2") { roomId } }');
    await gql(server.url, START_LIVESTREAM, { input: { roomId: 'cap-room-2' } });
    expect((await again.waitFor(1))[0].livestreamChanged.roomId).toBe('cap-room-2');
    await client.dispose();
  });
});
