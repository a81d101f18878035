import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { useServer } from '../src/fanout/index.js';
import { waitFor } from './helpers.js';

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

/** A graphql-transport-ws server of the fan-out on its own port, pinging every `keepAliveMs`. */
async function serve(keepAliveMs: number): Promise<string> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  const sockets = useServer(
    {
      connectionInitWaitTimeout: 0,
      onConnect: () => true,
      onSubscribe: () => {
        throw new Error('no operation in this test');
      },
      execute: () => ({}),
      subscribe: () => ({}),
    },
    wss,
    {
      limits: { maxBufferedBytes: 1024 * 1024, maxMessagesPerSecond: 100, maxPendingInit: 1000 },
      production: false,
      logger: pino({ level: 'silent' }),
      keepAliveMs,
    },
  );
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  stops.push(async () => {
    await sockets.dispose();
    await new Promise((resolve) => http.close(resolve));
  });
  return `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

function open(url: string, autoPong: boolean): Promise<WebSocket> {
  const socket = new WebSocket(url, 'graphql-transport-ws', { autoPong });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

it('pings every socket in slices, keeps those that answer and terminates one that does not', async () => {
  const url = await serve(200);
  const live = await Promise.all(Array.from({ length: 120 }, () => open(url, true)));
  const pings = new Map<WebSocket, number>();
  for (const socket of live) socket.on('ping', () => pings.set(socket, (pings.get(socket) ?? 0) + 1));
  const silent = await open(url, false);
  const closed = new Promise<number>((resolve) => silent.once('close', resolve));

  // Never answering its ping, it is dropped at its next turn (no close handshake: 1006).
  expect(await closed).toBe(1006);
  // Every other socket is pinged round after round and stays open.
  await waitFor(() => live.every((socket) => (pings.get(socket) ?? 0) >= 3));
  expect(live.every((socket) => socket.readyState === WebSocket.OPEN)).toBe(true);
  for (const socket of live) socket.close();
});
