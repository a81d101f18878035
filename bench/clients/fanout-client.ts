// Opens many WebSocket clients in one process (raw `ws`, the same for the service and the bare
// baseline) and reports when the last of them received a marked message.
import WebSocket from 'ws';

interface Plan {
  url: string;
  /** Index of the first socket of this process's share. */
  first: number;
  /** One graphql-transport-ws subscription per socket, or null for a bare socket. */
  subscriptions: ({ query: string; variables?: Record<string, unknown> } | null)[];
}

const sockets: WebSocket[] = [];
let expecting: { marker: string; remaining: number; last: number; resolve: (last: number) => void } | null = null;

/** First arrival time of each `streamId:status` (webhook benchmark). */
let collecting: Map<string, number> | null = null;
/** Every arrival time of each vendor status starting with a prefix (replica benchmark). */
let arrivals: { prefix: string; times: Map<string, number[]> } | null = null;

function onMessage(data: WebSocket.RawData) {
  if (arrivals) {
    const now = performance.timeOrigin + performance.now();
    const text = data.toString();
    const at = text.indexOf(`"vendorStatus":"${arrivals.prefix}`);
    if (at >= 0) {
      const start = at + '"vendorStatus":"'.length;
      const marker = text.slice(start, text.indexOf('"', start));
      const times = arrivals.times.get(marker);
      if (times) times.push(now);
      else arrivals.times.set(marker, [now]);
    }
  }
  if (collecting) {
    const now = performance.timeOrigin + performance.now();
    const message = JSON.parse(data.toString()) as {
      payload?: { data?: { livestreamChanged?: { id: string; status: string } } };
    };
    const stream = message.payload?.data?.livestreamChanged;
    const key = stream && `${stream.id}:${stream.status}`;
    if (key && !collecting.has(key)) collecting.set(key, now);
  }
  if (!expecting) return;
  if (!data.toString().includes(expecting.marker)) return;
  expecting.last = performance.timeOrigin + performance.now();
  expecting.remaining--;
  if (expecting.remaining === 0) expecting.resolve(expecting.last);
}

function open(url: string, index: number, subscription: Plan['subscriptions'][number]) {
  return new Promise<void>((resolve, reject) => {
    const socket = new WebSocket(url, subscription ? 'graphql-transport-ws' : undefined);
    socket.once('error', reject);
    socket.once('open', () => {
      sockets.push(socket);
      if (!subscription) {
        socket.send(String(index));
        socket.on('message', onMessage);
        resolve();
        return;
      }
      socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
      socket.once('message', () => {
        // connection_ack: subscribe; the server counts registered subscriptions.
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: subscription }));
        socket.on('message', onMessage);
        resolve();
      });
    });
  });
}

/** Answers when the `count`th socket received a message holding `marker` (its time), -1 after 30 s. */
async function expect({ marker, count }: { marker: string; count: number }): Promise<number> {
  const last = await new Promise<number>((resolve) => {
    if (count === 0) return resolve(0);
    expecting = { marker, remaining: count, last: 0, resolve };
    setTimeout(() => resolve(-1), 30_000).unref();
  });
  expecting = null;
  return last;
}
let armed: Promise<number> | null = null;

process.on('message', async (message: { type: string; id: number; command: string; args?: unknown }) => {
  if (message.type !== 'call') return;
  let result: unknown = null;
  if (message.command === 'open') {
    const plan = message.args as Plan;
    const batch = 250;
    for (let i = 0; i < plan.subscriptions.length; i += batch) {
      const opening: Promise<void>[] = [];
      for (let j = i; j < Math.min(plan.subscriptions.length, i + batch); j++) {
        opening.push(open(plan.url, plan.first + j, plan.subscriptions[j] ?? null));
      }
      await Promise.all(opening);
    }
    result = sockets.length;
  } else if (message.command === 'expect') {
    result = await expect(message.args as { marker: string; count: number });
  } else if (message.command === 'arm') {
    // `expect` in two calls: this one answers once armed, `last` when the last socket has it.
    armed = expect(message.args as { marker: string; count: number });
  } else if (message.command === 'last') {
    result = await armed;
    armed = null;
  } else if (message.command === 'collect') {
    collecting = new Map();
  } else if (message.command === 'collected') {
    result = Object.fromEntries(collecting ?? []);
    collecting = null;
  } else if (message.command === 'collected-count') {
    result = collecting?.size ?? 0;
  } else if (message.command === 'arrived-count') {
    let count = 0;
    for (const times of arrivals?.times.values() ?? []) count += times.length;
    result = count;
  } else if (message.command === 'arrivals') {
    arrivals = { prefix: message.args as string, times: new Map() };
  } else if (message.command === 'arrived') {
    result = Object.fromEntries(arrivals?.times ?? []);
    arrivals = null;
  } else if (message.command === 'close') {
    for (const socket of sockets) socket.terminate();
    sockets.length = 0;
    // Ready for another run (quick mode keeps the process for the next benchmark).
    collecting = null;
    arrivals = null;
  }
  process.send?.({ type: 'result', id: message.id, result });
});
process.send?.({ type: 'ready', port: 1 });
