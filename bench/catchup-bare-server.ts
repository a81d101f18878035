// The catch-up benchmark's ceiling: a bare `ws` server speaking just enough graphql-ws
// (`connection_ack`, then every frame for the first `subscribe`) to send pre-built `next` frames,
// the same ones the service sent, to the same kind of client. It writes as the service did before
// it framed them by hand (src/fanout/ws-frames.ts): the frames of a tick corked into one write, and
// a wait for the socket to drain past 64 KB unsent (src/fanout/graphql-ws.ts, SEND_HIGH_WATER).
// Its own cost (1.1–1.9 µs a frame) is well below the client's. What the client takes from it is
// what one graphql-ws client can take on this machine; bench/catchup.ts reports the service against
// it.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';

const HIGH_WATER = 64 * 1024;
/** Frames per tick: a replay's page (src/schema/resume.ts reads pages of 100). */
const BURST = 100;

let payloads: string[] = [];
const server = createServer();
const wss = new WebSocketServer({ server });

wss.on('connection', (socket) => {
  socket.on('message', (data) => {
    const message = JSON.parse(data.toString()) as { type: string; id?: string };
    if (message.type === 'connection_init') socket.send('{"type":"connection_ack"}');
    else if (message.type === 'subscribe' && message.id !== undefined) replay(socket, message.id);
  });
});

function replay(socket: WebSocket, id: string): void {
  const prefix = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
  // Built before the first frame goes: the client's clock starts at the first frame.
  const frames = payloads.map((payload) => `${prefix}${payload}}`);
  const raw = (socket as unknown as { _socket: Duplex })._socket;
  let next = 0;
  const pump = (): void => {
    if (socket.readyState !== socket.OPEN) return;
    raw.cork();
    const end = Math.min(frames.length, next + BURST);
    while (next < end && socket.bufferedAmount < HIGH_WATER) socket.send(frames[next++] as string);
    if (next < frames.length && socket.bufferedAmount >= HIGH_WATER) {
      socket.send(frames[next++] as string, () => pump());
    } else if (next < frames.length) setImmediate(pump);
    raw.uncork();
  };
  pump();
}

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ type: 'ready', port: typeof address === 'object' && address ? address.port : 0 });
});
process.on('message', (message: { type: string; id: number; command: string; args?: unknown }) => {
  if (message.type !== 'call') return;
  let result: unknown = null;
  if (message.command === 'load') {
    // One payload's JSON text a line.
    payloads = readFileSync(message.args as string, 'utf8')
      .split('\n')
      .filter(Boolean);
    result = payloads.length;
  }
  process.send?.({ type: 'result', id: message.id, result });
});
process.once('SIGTERM', () => {
  for (const socket of wss.clients) socket.terminate();
  server.close(() => process.exit(0));
});
