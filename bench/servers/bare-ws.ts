// Baseline for fan-out: a bare `ws` server that broadcasts given bytes to given sockets. Each
// client socket names its index in its first message, so the broadcast reaches exactly the
// sockets the service would reach.
import { createServer } from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';

const server = createServer();
const wss = new WebSocketServer({ server });
const sockets: (WebSocket | undefined)[] = [];
wss.on('connection', (socket) => {
  socket.once('message', (data) => {
    const index = Number(data.toString());
    sockets[index] = socket;
    socket.once('close', () => {
      if (sockets[index] === socket) sockets[index] = undefined;
    });
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ type: 'ready', port: typeof address === 'object' && address ? address.port : 0 });
});
process.on('message', (message: { type: string; id: number; command: string; args?: unknown }) => {
  if (message.type !== 'call') return;
  let result: unknown = null;
  if (message.command === 'memory') {
    for (let i = 0; i < 3; i++) globalThis.gc?.();
    result = process.memoryUsage();
  } else if (message.command === 'broadcast') {
    const { bytes, sockets: targets } = message.args as { bytes: string; sockets: number[] };
    const startedAt = performance.timeOrigin + performance.now();
    for (const index of targets) sockets[index]?.send(bytes);
    result = startedAt;
  } else if (message.command === 'sockets') {
    result = sockets.filter(Boolean).length;
  }
  process.send?.({ type: 'result', id: message.id, result });
});
process.once('SIGTERM', () => {
  for (const socket of wss.clients) socket.terminate();
  server.close(() => process.exit(0));
});
