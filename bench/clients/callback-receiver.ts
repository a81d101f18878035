// A router's callback endpoint (Apollo's HTTP callback protocol) in its own process: registers
// subscriptions with the service as a router does, answers check 204 and next 200, and reports
// when the last subscription received a marked `next`, and how many heartbeats arrive.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

let expecting: { marker: string; remaining: number; last: number; resolve: (last: number) => void } | null = null;
let checks = 0;
/** Per subscription (the callback URL's last segment): when its checks arrived, while `tracing`. */
let tracing: Map<string, number[]> | null = null;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    const action = /"action":"(\w+)"/.exec(text)?.[1];
    if (action === 'check') {
      checks++;
      if (tracing) {
        const id = (req.url ?? '').slice((req.url ?? '').lastIndexOf('/') + 1);
        const times = tracing.get(id);
        if (times) times.push(performance.now());
        else tracing.set(id, [performance.now()]);
      }
      res.writeHead(204, { 'subscription-protocol': 'callback/1.0' });
      res.end();
      return;
    }
    res.writeHead(action === 'complete' ? 202 : 200);
    res.end();
    if (action === 'next' && expecting && text.includes(expecting.marker)) {
      expecting.last = performance.timeOrigin + performance.now();
      expecting.remaining--;
      if (expecting.remaining === 0) expecting.resolve(expecting.last);
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const port = (server.address() as AddressInfo).port;

/** Registers `count` subscriptions, `concurrency` at a time, as a router does. */
async function register(args: {
  url: string;
  count: number;
  query: string;
  variables: Record<string, unknown>;
  heartbeatIntervalMs: number;
}): Promise<number> {
  let next = 0;
  let ok = 0;
  const worker = async () => {
    while (next < args.count) {
      next++;
      const id = randomUUID();
      const response = await fetch(args.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json;callbackSpec=1.0' },
        body: JSON.stringify({
          query: args.query,
          variables: args.variables,
          extensions: {
            subscription: {
              callbackUrl: `http://127.0.0.1:${port}/callback/${id}`,
              subscriptionId: id,
              verifier: 'bench',
              heartbeatIntervalMs: args.heartbeatIntervalMs,
            },
          },
        }),
      });
      const body = (await response.json()) as { errors?: unknown };
      if (!body.errors) ok++;
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return ok;
}

/** Answers when the `count`th `next` holding `marker` arrived (its time), -1 after 60 s. */
function expect({ marker, count }: { marker: string; count: number }): Promise<number> {
  return new Promise<number>((resolve) => {
    const timer = setTimeout(() => {
      expecting = null;
      resolve(-1);
    }, 60_000);
    expecting = {
      marker,
      remaining: count,
      last: 0,
      resolve: (last) => {
        clearTimeout(timer);
        expecting = null;
        resolve(last);
      },
    };
  });
}
let armed: Promise<number> | null = null;
let traceBegan = 0;

/**
 * What `tracing` saw since `began`, and stops it: checks per subscription, the gaps between one
 * subscription's checks (the last one to the window's end included), and how many exceed `overMs`.
 */
function traced(began: number, overMs = 3000) {
  const now = performance.now();
  const trace = tracing ?? new Map<string, number[]>();
  tracing = null;
  const perSubscription: Record<number, number> = {};
  const gaps: number[] = [];
  for (const times of trace.values()) {
    perSubscription[times.length] = (perSubscription[times.length] ?? 0) + 1;
    for (let i = 1; i < times.length; i++) gaps.push((times[i] as number) - (times[i - 1] as number));
  }
  const open = [...trace.values()].map((times) => now - (times.at(-1) as number));
  gaps.sort((a, b) => a - b);
  const at = (q: number) => Math.round(gaps[Math.min(gaps.length - 1, Math.floor(q * gaps.length))] ?? 0);
  return {
    windowMs: Math.round(now - began),
    checks: [...trace.values()].reduce((n, times) => n + times.length, 0),
    subscriptions: trace.size,
    perSubscription,
    gaps: { n: gaps.length, p1: at(0.01), p10: at(0.1), p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) },
    short: gaps.filter((g) => g < 3000).length,
    /** Gaps, and checks still awaited at the end, longer than `overMs`. */
    over: gaps.filter((g) => g > overMs).length + open.filter((g) => g > overMs).length,
  };
}

process.on('message', async (message: { type: string; id: number; command: string; args?: any }) => {
  if (message.type !== 'call') return;
  let result: unknown = null;
  if (message.command === 'register') result = await register(message.args);
  else if (message.command === 'expect') result = await expect(message.args);
  else if (message.command === 'arm') {
    // `expect` in two calls: this one answers once armed, `last` when the last `next` came.
    armed = expect(message.args);
  } else if (message.command === 'last') {
    result = await armed;
    armed = null;
  } else if (message.command === 'checks') {
    const before = checks;
    await new Promise((resolve) => setTimeout(resolve, message.args.windowMs as number));
    result = checks - before;
  } else if (message.command === 'check-trace') {
    // Diagnosis (bench/profile-callbacks.ts): checks per subscription over a window, and the gaps
    // between one subscription's checks.
    tracing = new Map();
    const began = performance.now();
    await new Promise((resolve) => setTimeout(resolve, message.args.windowMs as number));
    result = traced(began, message.args.overMs);
  } else if (message.command === 'trace-begin') {
    // The same over a window the caller ends (`trace-end`), e.g. while changes are delivered.
    tracing = new Map();
    traceBegan = performance.now();
  } else if (message.command === 'trace-end') {
    result = traced(traceBegan, message.args?.overMs);
  } else if (message.command === 'cpu-usage') {
    result = process.cpuUsage();
  } else if (message.command === 'close') {
    server.closeAllConnections();
    server.close();
  }
  process.send?.({ type: 'result', id: message.id, result });
});
process.send?.({ type: 'ready', port });
