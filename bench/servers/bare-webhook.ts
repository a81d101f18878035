// Ceiling for webhook intake: a bare node:http server answering the benchmark's webhook requests
// as the service does, with nothing stored. It reads the body, checks the secret header with a
// constant-time compare (sha256 digests of equal length, as `providers/hms/webhooks.ts`), parses
// the JSON and answers 200 with the service's bytes: the same headers (an `x-request-id` of its
// own included) and body. What the service does beyond this (the store, the lifecycle, the group
// commit, publishing) is what the ratio between the two prices.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const header = (process.env.HMS_WEBHOOK_HEADER ?? 'x-hms-webhook-secret').toLowerCase();
const digest = (value: string) => createHash('sha256').update(value).digest();
const secret = digest(process.env.HMS_WEBHOOK_SECRET ?? '');
const ANSWER = JSON.stringify({ ok: true, pending: false });

const server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const received = req.headers[header];
    const answer = (status: number, text: string) => {
      res.writeHead(status, {
        'x-request-id': randomUUID(),
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(text),
        'cache-control': 'no-store',
      });
      res.end(text);
    };
    if (typeof received !== 'string' || !timingSafeEqual(digest(received), secret)) {
      return answer(401, JSON.stringify({ error: 'invalid signature' }));
    }
    try {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return answer(400, JSON.stringify({ error: 'body is not JSON' }));
    }
    answer(200, ANSWER);
  });
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ type: 'ready', port: typeof address === 'object' && address ? address.port : 0 });
});
process.on('message', (message: { type: string; id: number }) => {
  if (message.type === 'call') process.send?.({ type: 'result', id: message.id, result: true });
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
