// Baseline for fan-out: a bare `ws` server that broadcasts given bytes to the first N sockets.
import { createServer } from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';

const server = createServer();
const wss = new WebSocketServer({ server });
const sockets: WebSocket[] = [];
wss.on('connection', (socket) => {
  sockets.push(socket);
  socket.on('close', () => sockets.splice(sockets.indexOf(socket), 1));
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ type: 'ready', port: typeof address === 'object' && address ? address.port : 0 });
});
process.on('message', (message: { type: string; id: number; command: string; args?: any }) => {
  if (message.type !== 'call') return;
  let result: unknown = null;
  if (message.command === 'memory') {
    for (let i = 0; i < 3; i++) globalThis.gc?.();
    result = process.memoryUsage();
  } else if (message.command === 'broadcast') {
    const { bytes, count } = message.args as { bytes: string; count: number };
    const startedAt = performance.timeOrigin + performance.now();
    for (let i = 0; i < count && i < sockets.length; i++) sockets[i]?.send(bytes);
    result = startedAt;
  } else if (message.command === 'sockets') {
    result = sockets.length;
  }
  process.send?.({ type: 'result', id: message.id, result });
});
process.once('SIGTERM', () => {
  for (const socket of sockets) socket.terminate();
  server.close(() => process.exit(0));
});
