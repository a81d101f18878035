// Opens many WebSocket clients in one process (raw `ws`, the same for the service and the bare
// baseline) and reports when each of them received a marked message.
import WebSocket from 'ws';

interface Plan {
  url: string;
  /** graphql-transport-ws subscriptions to open, or none for the bare baseline. */
  subscriptions: { query: string; variables?: Record<string, unknown> }[] | null;
  count: number;
}

const sockets: WebSocket[] = [];
let expecting: { marker: string; remaining: number; last: number; resolve: (last: number) => void } | null = null;

function onMessage(data: WebSocket.RawData) {
  if (!expecting) return;
  const text = data.toString();
  if (!text.includes(expecting.marker)) return;
  expecting.last = performance.timeOrigin + performance.now();
  expecting.remaining--;
  if (expecting.remaining === 0) expecting.resolve(expecting.last);
}

function open(url: string, subscription: Plan['subscriptions'] extends (infer T)[] | null ? T | null : never) {
  return new Promise<void>((resolve, reject) => {
    const socket = new WebSocket(url, subscription ? 'graphql-transport-ws' : undefined);
    socket.once('error', reject);
    socket.once('open', () => {
      sockets.push(socket);
      if (!subscription) {
        socket.on('message', onMessage);
        resolve();
        return;
      }
      socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
      socket.once('message', () => {
        // connection_ack: subscribe; the first message back (a snapshot, for id subscriptions) or a
        // short pause tells the server has registered it.
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: subscription }));
        socket.on('message', onMessage);
        resolve();
      });
    });
  });
}

process.on('message', async (message: { type: string; id: number; command: string; args?: any }) => {
  if (message.type !== 'call') return;
  let result: unknown = null;
  if (message.command === 'open') {
    const plan = message.args as Plan;
    const batch = 250;
    for (let i = 0; i < plan.count; i += batch) {
      const opening: Promise<void>[] = [];
      for (let j = i; j < Math.min(plan.count, i + batch); j++) {
        opening.push(
          open(plan.url, plan.subscriptions ? (plan.subscriptions[j % plan.subscriptions.length] ?? null) : null),
        );
      }
      await Promise.all(opening);
    }
    result = sockets.length;
  } else if (message.command === 'expect') {
    const { marker, count } = message.args as { marker: string; count: number };
    result = await new Promise<number>((resolve) => {
      expecting = { marker, remaining: count, last: 0, resolve };
      setTimeout(() => resolve(-1), 30_000).unref();
    });
    expecting = null;
  } else if (message.command === 'close') {
    for (const socket of sockets) socket.terminate();
    sockets.length = 0;
  }
  process.send?.({ type: 'result', id: message.id, result });
});
process.send?.({ type: 'ready', port: 1 });
