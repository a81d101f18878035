// A router's callback endpoint (Apollo's HTTP callback protocol) in its own process: registers
// subscriptions with the service as a router does, answers check 204 and next 200, and reports
// when the last subscription received a marked `next`, and how many heartbeats arrive.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

let expecting: { marker: string; remaining: number; last: number; resolve: (last: number) => void } | null = null;
let checks = 0;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    const action = /"action":"(\w+)"/.exec(text)?.[1];
    if (action === 'check') {
      checks++;
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
  } else if (message.command === 'close') {
    server.closeAllConnections();
    server.close();
  }
  process.send?.({ type: 'result', id: message.id, result });
});
process.send?.({ type: 'ready', port });
