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

it('pings every socket once per interval in slices, keeps those that answer and terminates one that does not', async () => {
  const interval = 400;
  const url = await serve(interval);
  const live = await Promise.all(Array.from({ length: 3 }, () => open(url, true)));
  const few = await open(url, true);
  const pings = new Map<WebSocket, number[]>();
  for (const socket of [...live, few]) {
    socket.on('ping', () => pings.set(socket, [...(pings.get(socket) ?? []), performance.now()]));
  }
  const silent = await open(url, false);
  const closed = new Promise<number>((resolve) => silent.once('close', resolve));

  // Never answering its ping, it is dropped at its next turn (no close handshake: 1006).
  expect(await closed).toBe(1006);
  // Every other socket is pinged round after round and stays open.
  await waitFor(() => [...live, few].every((socket) => (pings.get(socket)?.length ?? 0) >= 3));
  expect([...live, few].every((socket) => socket.readyState === WebSocket.OPEN)).toBe(true);
  // Once per interval, however few sockets a slice holds (lower bound only: a loaded machine
  // makes gaps longer, never shorter).
  const times = pings.get(few) ?? [];
  for (let i = 1; i < times.length; i++)
    expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThan(interval * 0.8);
  for (const socket of [...live, few]) socket.close();
});
