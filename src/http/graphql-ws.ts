// graphql-ws on a `ws` server, as `graphql-ws/use/ws` does, made lean for tens of thousands of
// idle sockets: one heartbeat timer for all sockets instead of one (or two) per socket, and a
// message handler that lets go of each frame's buffer once graphql-ws has the text.
import type { IncomingMessage } from 'node:http';
import {
  CloseCode,
  type ConnectionInitMessage,
  DEPRECATED_GRAPHQL_WS_PROTOCOL,
  handleProtocols,
  makeServer,
  type ServerOptions,
} from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';

export interface Extra {
  readonly socket: WebSocket;
  /**
   * The upgrade request as far as it matters after the upgrade: `headers`, `url`, `method` and
   * `httpVersion` (typed as graphql-ws types it). The request stream itself, its raw headers and
   * buffers are let go: kept for each socket's whole life they cost more than a bare socket.
   */
  readonly request: IncomingMessage;
}

/** Headers whose values many sockets send alike (never credentials). */
const SHARED_HEADERS = new Set([
  'host',
  'connection',
  'upgrade',
  'origin',
  'user-agent',
  'pragma',
  'cache-control',
  'accept-encoding',
  'accept-language',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
]);

function upgradeRequest(request: IncomingMessage): IncomingMessage {
  const { url, method, httpVersion } = request;
  // Header values most sockets share (protocol, extensions, host, user agent) are shared; the
  // handshake key means nothing after the upgrade.
  const headers: IncomingMessage['headers'] = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (name === 'sec-websocket-key') continue;
    headers[name] = typeof value === 'string' && SHARED_HEADERS.has(name) ? intern(value) : value;
  }
  return { headers, url, method, httpVersion } as IncomingMessage;
}

const REASON_LIMIT = 123; // bytes a close reason may hold

function closeReason(error: unknown, isProd: boolean): string {
  if (isProd) return 'Internal server error';
  const reason = error instanceof Error ? error.message : String(error);
  return Buffer.byteLength(reason) > REASON_LIMIT ? 'Internal server error' : reason;
}

/** Sockets pinged by the heartbeat that have not answered yet. */
const awaitingPong = new WeakSet<WebSocket>();
function onPong(this: WebSocket): void {
  awaitingPong.delete(this);
}

/** Same contract as `useServer` from `graphql-ws/use/ws`; answers how to dispose of it. */
export function useServer<
  P extends ConnectionInitMessage['payload'] = ConnectionInitMessage['payload'],
  E extends Record<PropertyKey, unknown> = Record<PropertyKey, never>,
>(
  options: ServerOptions<P, Extra & Partial<E>> & { isProd?: boolean },
  ws: WebSocketServer,
  keepAlive = 12_000,
): { dispose(): Promise<void> } {
  const isProd = typeof options.isProd === 'boolean' ? options.isProd : process.env.NODE_ENV === 'production';
  const server = makeServer({ jsonMessageReviver: internQuery, ...options });
  ws.options.handleProtocols = handleProtocols;

  ws.once('error', (error) => {
    console.error('Internal error emitted on the WebSocket server. Please check your implementation.', error);
    for (const client of ws.clients) client.close(CloseCode.InternalServerError, closeReason(error, isProd));
  });

  // One timer pings every socket; a socket that has not answered the previous ping is dead.
  const heartbeat =
    keepAlive > 0 && Number.isFinite(keepAlive)
      ? setInterval(() => {
          for (const socket of ws.clients) {
            if (socket.readyState !== socket.OPEN) continue;
            if (awaitingPong.has(socket)) {
              socket.terminate();
              continue;
            }
            awaitingPong.add(socket);
            socket.ping();
          }
        }, keepAlive)
      : null;
  heartbeat?.unref();
  ws.once('close', () => {
    if (heartbeat) clearInterval(heartbeat);
  });

  ws.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    // No closure per socket (tens of thousands stay open): shared listeners find the socket's
    // adapter, whose methods graphql-ws calls.
    const adapter = new SocketAdapter(socket, isProd);
    adapters.set(socket, adapter);
    socket.on('error', onSocketError);
    socket.on('pong', onPong);
    adapter.closed = server.opened(adapter, { socket, request: upgradeRequest(request) } as Extra & Partial<E>);
    socket.on('close', onSocketClose);
  });

  return {
    async dispose() {
      if (heartbeat) clearInterval(heartbeat);
      for (const client of ws.clients) client.close(1001, 'Going away');
      ws.removeAllListeners();
      await new Promise<void>((resolve, reject) => ws.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/** Each open socket's adapter, for the listeners every socket shares. */
const adapters = new WeakMap<WebSocket, SocketAdapter>();

function onSocketError(this: WebSocket, error: Error): void {
  console.error('Internal error emitted on a WebSocket socket. Please check your implementation.', error);
  this.close(CloseCode.InternalServerError, closeReason(error, adapters.get(this)?.isProd ?? false));
}

function onSocketMessage(this: WebSocket, data: unknown): void {
  adapters.get(this)?.receive(data);
}

function onSocketClose(this: WebSocket, code: number, reason: Buffer): void {
  awaitingPong.delete(this);
  const adapter = adapters.get(this);
  adapters.delete(this);
  if (
    adapter &&
    !adapter.isProd &&
    code === CloseCode.SubprotocolNotAcceptable &&
    this.protocol === DEPRECATED_GRAPHQL_WS_PROTOCOL
  ) {
    console.warn(
      `Client provided the unsupported and deprecated subprotocol "${this.protocol}" used by subscriptions-transport-ws.`,
    );
  }
  adapter?.closed?.(code, String(reason));
}

/** What graphql-ws calls a socket: one object per connection, its methods on the prototype. */
class SocketAdapter {
  handle: ((data: string) => Promise<void>) | null = null;
  closed: ((code?: number, reason?: string) => Promise<void>) | null = null;

  constructor(
    private readonly socket: WebSocket,
    readonly isProd: boolean,
  ) {}

  get protocol(): string {
    return this.socket.protocol;
  }

  send(data: string): Promise<void> {
    const socket = this.socket;
    if (socket.readyState !== socket.OPEN) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      socket.send(data, (error) => (error ? reject(error) : resolve()));
    });
  }

  close(code?: number, reason?: string): void {
    this.socket.close(code, reason);
  }

  onMessage(handle: (data: string) => Promise<void>): void {
    this.handle = handle;
    this.socket.on('message', onSocketMessage);
  }

  receive(data: unknown): void {
    if (!this.handle) return;
    // Not awaited: a subscription's handler runs as long as the subscription does, and awaiting
    // it would keep this frame's buffer alive with it. Identical frames (thousands of clients
    // subscribing alike) share one string, which graphql-ws keeps while the handler runs.
    this.handle(intern(String(data))).catch((error: unknown) => {
      console.error('Internal error occurred during message handling. Please check your implementation.', error);
      this.socket.close(CloseCode.InternalServerError, closeReason(error, this.isProd));
    });
  }
}

/**
 * Strings many sockets send alike (a subscribe frame, its query text), shared: each socket would
 * otherwise keep its own copy for its subscription's life. Bounded; short strings only.
 */
const interned = new Map<string, string>();
const MAX_INTERNED = 4096;
const MAX_INTERNED_LENGTH = 4096;

function intern(text: string): string {
  if (text.length > MAX_INTERNED_LENGTH) return text;
  const known = interned.get(text);
  if (known !== undefined) return known;
  if (interned.size >= MAX_INTERNED) interned.clear();
  interned.set(text, text);
  return text;
}

/** `JSON.parse` reviver for graphql-ws messages: a subscription's query text is shared. */
function internQuery(this: unknown, key: string, value: unknown): unknown {
  return key === 'query' && typeof value === 'string' ? intern(value) : value;
}
