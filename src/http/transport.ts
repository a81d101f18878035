// Transport bounds (issue 10): what can be refused before a request's body is read, how a refusal
// reaches every HTTP client, the server's time and connection limits, and CORS.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { CORSOptions } from 'graphql-yoga';
import type { Config } from '../config.js';

/**
 * Most bytes read (and discarded) after an early answer, so the client finishes sending and reads
 * the answer instead of a reset; a body declared or sent larger is cut off after the answer.
 */
export const MAX_DRAIN_BYTES = 8 * 1024 * 1024;

/**
 * Answers a request whose body will not be used, before (or without) reading it: the whole answer
 * is sent at once with `Connection: close`, then the body is read and discarded up to
 * `MAX_DRAIN_BYTES` and only then is the connection closed. Closing while the client still sends
 * would reset the connection, and most clients (Node's `http`, `fetch`) then report EPIPE or
 * ECONNRESET instead of the answer. A body that stalls is cut off by the request timeout.
 */
export function answerEarly(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  res.shouldKeepAlive = false;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
    'content-length': String(Buffer.byteLength(text)),
    connection: 'close',
  });
  // Listeners that collected the body stop; the answer goes out before the body is read.
  req.removeAllListeners('data');
  if (req.complete || Number(req.headers['content-length'] ?? 0) > MAX_DRAIN_BYTES) {
    res.end(text);
    req.resume();
    return;
  }
  res.write(text);
  let drained = 0;
  const finish = () => {
    req.off('data', onData);
    req.off('end', finish);
    req.off('close', finish);
    if (!res.writableEnded) res.end();
  };
  const onData = (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > MAX_DRAIN_BYTES) finish();
  };
  req.on('data', onData);
  req.once('end', finish);
  req.once('close', finish);
  req.resume();
}

/** A GraphQL-shaped error as text (for `answerEarly`). */
export function graphqlErrorText(message: string, code: string): string {
  return JSON.stringify({ errors: [{ message, extensions: { code } }] });
}

/** True when the request carries a body to read (a declared length, or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  return Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
}

/**
 * Bounds time and connections: headers within `HTTP_HEADERS_TIMEOUT_MS`, the whole request (its
 * body included) within `HTTP_REQUEST_TIMEOUT_MS` (408, then closed), an idle keep-alive
 * connection closed after `HTTP_KEEP_ALIVE_TIMEOUT_MS`, at most `HTTP_MAX_CONNECTIONS` open
 * (WebSockets included; more are closed as they arrive). Node checks the first two every
 * `connectionsCheckingInterval` (set at `createServer`, see `SERVER_OPTIONS`).
 */
export function boundServer(server: Server, config: Config): void {
  const limits = config.transport;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
}

/** `createServer` options: how often Node checks the header and request timeouts. */
export const SERVER_OPTIONS = { connectionsCheckingInterval: 1000 } as const;

/**
 * yoga's CORS: a browser page may call the API only from an origin `CORS_ORIGINS` lists; no other
 * origin gets any CORS header (so the browser refuses to let the page read the answer, and refuses
 * the preflight of a JSON POST). Credentials are never allowed: callers authenticate with a bearer
 * token, which needs none.
 */
export function corsFor(config: Config): (request: Request) => CORSOptions {
  const allowed = new Set(config.transport.corsOrigins);
  return (request) => {
    const origin = request.headers.get('origin');
    if (origin === null || !allowed.has(origin)) return false;
    return { origin: [origin], credentials: false, methods: ['GET', 'POST', 'OPTIONS'], maxAge: 600 };
  };
}
