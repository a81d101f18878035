import { generateKeyPairSync } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers.js';

// Issue 16: a body over 1 MiB on any webhook route is answered 413 in a way every client reads
// (Connection: close, the body drained up to a bound), never a reset (EPIPE) the vendor retries.

const MiB = 1024 * 1024;
const HMS_SECRET = 'hms-webhook-secret-value';
const publicKey = () =>
  generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();

let server: TestServer;
beforeAll(async () => {
  server = await startServer({
    HMS_ACCESS_KEY: 'access',
    HMS_APP_SECRET: 'app-secret',
    HMS_API_URL: 'http://127.0.0.1:9',
    HMS_WEBHOOK_SECRET: HMS_SECRET,
    CLOUDFLARE_ACCOUNT_ID: 'account',
    CLOUDFLARE_APP_ID: 'app',
    CLOUDFLARE_API_TOKEN: 'token',
    CLOUDFLARE_API_URL: 'http://127.0.0.1:9',
    CLOUDFLARE_WEBHOOK_PUBLIC_KEY: publicKey(),
    DYTE_ORG_ID: 'org',
    DYTE_API_KEY: 'key',
    DYTE_API_URL: 'http://127.0.0.1:9',
    DYTE_WEBHOOK_PUBLIC_KEY: publicKey(),
    LIVEKIT_URL: 'http://127.0.0.1:9',
    LIVEKIT_API_KEY: 'livekit-key',
    LIVEKIT_API_SECRET: 'livekit-secret-that-is-long-enough',
  });
});
afterAll(async () => {
  await server.cleanup();
});

const ROUTES = ['hms', 'cloudflare', 'dyte', 'livekit'];
const HEADERS = { 'content-type': 'application/json', 'x-hms-webhook-secret': HMS_SECRET };
const body = () => Buffer.from(JSON.stringify({ pad: 'x'.repeat(4 * MiB) }));

/** Node's own client, as a vendor's Node SDK would send it: with Content-Length or chunked. */
function nodePost(url: string, payload: Buffer, chunked: boolean): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { ...HEADERS, ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': payload.length }) },
    });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    if (chunked) {
      for (let offset = 0; offset < payload.length; offset += 64 * 1024)
        req.write(payload.subarray(offset, offset + 64 * 1024));
      req.end();
    } else req.end(payload);
  });
}

/** fetch (undici), with a known length or streamed (chunked). */
async function fetchPost(url: string, payload: Buffer, chunked: boolean): Promise<{ status: number; text: string }> {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let offset = 0; offset < payload.length; offset += 64 * 1024) {
        controller.enqueue(payload.subarray(offset, offset + 64 * 1024));
      }
      controller.close();
    },
  });
  const response = await fetch(url, {
    method: 'POST',
    headers: HEADERS,
    body: chunked ? stream : payload,
    ...(chunked ? { duplex: 'half' } : {}),
  } as RequestInit);
  return { status: response.status, text: await response.text() };
}

describe('oversized webhook bodies are answered 413 on every route, to every client', () => {
  for (const route of ROUTES) {
    for (const chunked of [false, true]) {
      const how = chunked ? 'chunked' : 'Content-Length';
      it(`/webhooks/${route}, ${how}, Node http.request`, async () => {
        const answer = await nodePost(`http://127.0.0.1:${server.port}/webhooks/${route}`, body(), chunked);
        expect(answer.status).toBe(413);
        expect(JSON.parse(answer.text)).toEqual({ error: 'body too large' });
      });
      it(`/webhooks/${route}, ${how}, fetch`, async () => {
        const answer = await fetchPost(`http://127.0.0.1:${server.port}/webhooks/${route}`, body(), chunked);
        expect(answer.status).toBe(413);
        expect(JSON.parse(answer.text)).toEqual({ error: 'body too large' });
      });
    }
  }
});
