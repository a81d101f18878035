// graphql-transport-ws on a `ws` server, as `graphql-ws/use/ws` does, made lean for tens of
// thousands of idle sockets (see src/fanout/index.ts): one heartbeat timer for all sockets instead
// of one (or two) per socket, a message handler that lets go of each frame's buffer once the
// protocol has the text, and the protocol itself in protocol.ts. It also bounds what one socket
// can make the server hold (`SocketLimits`).
import type { IncomingMessage } from 'node:http';
import { CloseCode, DEPRECATED_GRAPHQL_WS_PROTOCOL, handleProtocols } from 'graphql-ws';
import type { Logger } from 'pino';
import type { WebSocket, WebSocketServer } from 'ws';
import { Connection, intern, type Operation, type ProtocolHooks } from './protocol.js';
import type { Backlog } from './queue.js';
import { writeTextFrames } from './ws-frames.js';

/** What one socket may make the server hold or do (config: `WS_*`). */
export interface SocketLimits {
  /** Bytes waiting to be sent plus events queued for its subscriptions; past it: 1013. */
  maxBufferedBytes: number;
  /** Frames a socket may send per second; past it: 4429. */
  maxMessagesPerSecond: number;
  /** Sockets open at once that have not sent `connection_init`; past it an upgrade is refused 503. */
  maxPendingInit: number;
}

export interface SocketSettings {
  limits: SocketLimits;
  /** Production hides internal error messages from close reasons. */
  production: boolean;
  logger: Logger;
  keepAliveMs?: number;
}

/** Close codes of the bounds (graphql-ws' own are 44xx; 1013 is RFC 6455's "try again later"). */
export const CLOSE_SLOW_CONSUMER = 1013;
export const CLOSE_TOO_MANY_MESSAGES = 4429;
/** Bytes unsent before an operation waits for a flush to pull more (else a replay waits on each write). */
const SEND_HIGH_WATER = 64 * 1024;
/** What a queued event is assumed to weigh until the socket has sent one. */
const MIN_EVENT_BYTES = 256;

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

/** Ticks of the heartbeat per interval, each pinging its share of the sockets. */
const HEARTBEAT_SLICES = 50;

function beat(socket: WebSocket): void {
  if (socket.readyState !== socket.OPEN) return;
  if (awaitingPong.has(socket)) {
    socket.terminate();
    return;
  }
  awaitingPong.add(socket);
  socket.ping();
}

export interface SocketServer {
  /** True while fewer than `maxPendingInit` sockets wait for their `connection_init`. */
  acceptsMore(): boolean;
  /** A socket's send backlog, which its subscriptions count their queued events in. */
  backlogOf(socket: WebSocket): Backlog | undefined;
  dispose(): Promise<void>;
}

/**
 * The contract of `useServer` from `graphql-ws/use/ws` for the hooks this service uses
 * (`ProtocolHooks`), with the bounds of `settings.limits`.
 */
export function useServer<E extends Extra>(
  hooks: ProtocolHooks<E>,
  ws: WebSocketServer,
  settings: SocketSettings,
): SocketServer {
  const { logger, production: isProd } = settings;
  const keepAlive = settings.keepAliveMs ?? 12_000;
  const shared: Shared = { settings, pendingInit: 0, hooks: hooks as ProtocolHooks<Extra> };
  ws.options.handleProtocols = handleProtocols;

  ws.once('error', (error) => {
    logger.error({ err: error }, 'internal error emitted on the WebSocket server');
    for (const client of ws.clients) closeSocket(client, CloseCode.InternalServerError, closeReason(error, isProd));
  });

  // One timer pings every socket once per `keepAlive`, a slice of them per tick; a socket that
  // has not answered the previous ping is dead. A ping is a write of its own (≈ 40 µs here):
  // all 19,000 of the fan-out benchmark at once held the event loop ≈ 0.8 s, and a change
  // published meanwhile waited for it (bench/README.md, "Fan-out", issue 17).
  let round: Iterator<WebSocket> | null = null;
  let perTick = 1;
  let tick = 0;
  const heartbeat =
    keepAlive > 0 && Number.isFinite(keepAlive)
      ? setInterval(() => {
          // A round starts every `keepAlive`, whatever the number of sockets: each socket's turn
          // comes once per interval (one that joined after a round's slices were sized waits
          // for the next round).
          if (tick++ % HEARTBEAT_SLICES === 0) {
            round = ws.clients.values();
            perTick = Math.ceil(ws.clients.size / HEARTBEAT_SLICES);
          }
          for (let k = 0; k < perTick && round; k++) {
            const next = round.next();
            if (next.done) round = null;
            else beat(next.value);
          }
        }, keepAlive / HEARTBEAT_SLICES)
      : null;
  heartbeat?.unref();
  ws.once('close', () => {
    if (heartbeat) clearInterval(heartbeat);
  });

  ws.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    // No closure per socket (tens of thousands stay open): shared listeners find the socket's
    // adapter, whose methods graphql-ws calls.
    const adapter = new SocketAdapter(socket, shared, { socket, request: upgradeRequest(request) });
    adapters.set(socket, adapter);
    socket.on('error', onSocketError);
    socket.on('pong', onPong);
    if (adapter.open(socket.protocol)) socket.on('message', onSocketMessage);
    socket.on('close', onSocketClose);
  });

  return {
    acceptsMore: () => shared.pendingInit < settings.limits.maxPendingInit,
    backlogOf: (socket) => adapters.get(socket),
    async dispose() {
      if (heartbeat) clearInterval(heartbeat);
      for (const client of ws.clients) closeSocket(client, 1001, 'Going away');
      ws.removeAllListeners();
      await new Promise<void>((resolve, reject) => ws.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/** Sockets holding frames until the end of the current tick. */
let holding: SocketAdapter[] = [];

function writeHeld(): void {
  const adapters = holding;
  holding = [];
  for (const adapter of adapters) adapter.writeHeld();
}

/** Each open socket's adapter, for the listeners every socket shares. */
const adapters = new WeakMap<WebSocket, SocketAdapter>();

/** Closes a socket after the frames its connection holds (the close frame goes last). */
function closeSocket(socket: WebSocket, code: number, reason: string): void {
  (adapters.get(socket) ?? socket).close(code, reason);
}

function onSocketError(this: WebSocket, error: Error): void {
  const adapter = adapters.get(this);
  adapter?.shared.settings.logger.warn({ err: error }, 'WebSocket error');
  closeSocket(this, CloseCode.InternalServerError, closeReason(error, adapter?.isProd ?? true));
}

function onSocketMessage(this: WebSocket, data: unknown): void {
  adapters.get(this)?.receive(data);
}

function onSocketClose(this: WebSocket, code: number): void {
  awaitingPong.delete(this);
  const adapter = adapters.get(this);
  adapters.delete(this);
  adapter?.initialised();
  if (adapter && code === CloseCode.SubprotocolNotAcceptable && this.protocol === DEPRECATED_GRAPHQL_WS_PROTOCOL) {
    adapter.shared.settings.logger.debug(
      `client offered the unsupported, deprecated subprotocol "${this.protocol}" (subscriptions-transport-ws)`,
    );
  }
  void adapter?.closed();
}

/** What every socket of one server shares: its settings, hooks and how many wait for `connection_init`. */
interface Shared {
  readonly settings: SocketSettings;
  readonly hooks: ProtocolHooks<Extra>;
  pendingInit: number;
}

/**
 * One connection: its protocol state (protocol.ts) and its socket, one object, its methods on the
 * prototype. It enforces the socket's bounds: nothing is sent before the connection is acknowledged (a ping
 * flood before `connection_init` gets no pongs), frames per second, and what the server holds
 * for the socket: bytes `ws` has not flushed plus events queued for its subscriptions.
 */
class SocketAdapter extends Connection<Extra> implements Backlog {
  /** Set once `connection_ack` is sent: nothing else goes out before. */
  private ackSent = false;
  /** Counted in `shared.pendingInit` until it sends `connection_init` or closes. */
  private waitingForInit = true;
  /** Set once the socket is closed for a bound: nothing more is read or sent. */
  private refused = false;
  private windowStart = 0;
  private framesInWindow = 0;
  /** Events queued for this socket's subscriptions, and what one is assumed to weigh. */
  private queuedEvents = 0;
  private eventBytes = MIN_EVENT_BYTES;
  /**
   * Operation frames handed over this tick, written together at its end (`writeHeld`), and their
   * length; operations to tell once they are written (they were handed over past the mark).
   */
  private held: string[] | null = null;
  private heldLength = 0;
  private heldWaiters: Operation<Extra>[] | null = null;

  constructor(
    private readonly socket: WebSocket,
    readonly shared: Shared,
    extra: Extra,
  ) {
    super(shared.hooks, extra);
    shared.pendingInit++;
  }

  get isProd(): boolean {
    return this.shared.settings.production;
  }

  /** `connection_init` arrived (or the socket closed): it no longer counts as waiting. */
  initialised(): void {
    if (!this.waitingForInit) return;
    this.waitingForInit = false;
    this.shared.pendingInit--;
  }

  protected canSend(): boolean {
    return this.socket.readyState === this.socket.OPEN && !this.refused;
  }

  /** Whether anything may be sent: the socket is open, not refused, and `data` may go out now. */
  private maysend(data: string): boolean {
    const socket = this.socket;
    if (socket.readyState !== socket.OPEN || this.refused) return false;
    if (!this.ackSent) {
      // Nothing but the acknowledgement goes out before it (the protocol sends nothing else then;
      // pongs are `onPing`'s).
      if (!data.startsWith('{"type":"connection_ack"')) return false;
      this.ackSent = true;
    }
    // A moving average of the operation frames sent: one large query answer does not make every
    // queued event count as large.
    if (data.startsWith('{"id"')) this.eventBytes = Math.max(MIN_EVENT_BYTES, (this.eventBytes * 7 + data.length) / 8);
    return true;
  }

  send(data: string): Promise<void> {
    if (!this.maysend(data)) return Promise.resolve();
    this.writeHeld();
    const socket = this.socket;
    const sent = new Promise<void>((resolve, reject) => {
      // A send cut short by the socket closing is no error of the operation.
      socket.send(data, (error) => (error && socket.readyState === socket.OPEN ? reject(error) : resolve()));
    });
    this.checkBacklog();
    return sent;
  }

  sendFrame(data: string, operation: Operation<Extra>): boolean {
    // Not sent (the socket is closing): the operation pulls no more; closing ends it.
    if (!this.maysend(data)) return false;
    // Below the mark the operation pulls its next result at once, and a burst (a replay's page)
    // becomes one write at the end of the tick; past it, it waits for that write to be flushed. A
    // failed write closes the socket, which ends the operation.
    const room = this.socket.bufferedAmount + this.heldLength < SEND_HIGH_WATER;
    if (this.held === null) {
      this.held = [];
      if (holding.push(this) === 1) process.nextTick(writeHeld);
    }
    this.held.push(data);
    this.heldLength += data.length;
    if (!room) {
      if (this.heldWaiters === null) this.heldWaiters = [operation];
      else this.heldWaiters.push(operation);
    }
    this.checkBacklog();
    return room;
  }

  /** Writes the frames held this tick in one write (ws-frames.ts), before anything else it writes. */
  writeHeld(): void {
    const frames = this.held;
    if (frames === null) return;
    const waiters = this.heldWaiters;
    this.held = null;
    this.heldLength = 0;
    this.heldWaiters = null;
    writeTextFrames(this.socket, frames, waiters);
  }

  /** No `pong` before the acknowledgement. */
  protected override onPing(payload: unknown): Promise<void> {
    if (!this.ackSent) return Promise.resolve();
    return super.onPing(payload);
  }

  /** `Backlog`: an event was queued for (or handed to) one of this socket's subscriptions. */
  queued(delta: number): void {
    this.queuedEvents += delta;
    if (delta > 0) this.checkBacklog();
  }

  private checkBacklog(): void {
    const held = this.socket.bufferedAmount + this.heldLength + this.queuedEvents * this.eventBytes;
    if (held <= this.shared.settings.limits.maxBufferedBytes || this.refused) return;
    this.shared.settings.logger.info({ held }, 'WebSocket closed: slow consumer');
    this.refuse(CLOSE_SLOW_CONSUMER, 'slow consumer');
  }

  /**
   * Closes the socket for a bound. The close frame follows what is already buffered; `ws`
   * terminates a socket that does not complete the closing handshake within 30 s.
   */
  private refuse(code: number, reason: string): void {
    this.refused = true;
    this.writeHeld();
    this.socket.close(code, reason);
    // Its operations end now, not once the client completes the closing handshake (a client that
    // does not read may take 30 s): nothing more is pulled or built for it.
    void this.closed();
  }

  close(code?: number, reason?: string): void {
    this.writeHeld();
    this.socket.close(code, reason);
  }

  receive(data: unknown): void {
    if (this.refused) return;
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.framesInWindow = 0;
    }
    if (++this.framesInWindow > this.shared.settings.limits.maxMessagesPerSecond) {
      this.refuse(CLOSE_TOO_MANY_MESSAGES, 'Too many messages');
      return;
    }
    // Not awaited: a subscription's handler runs as long as the subscription does, and awaiting
    // it would keep this frame's buffer alive with it. Identical frames (thousands of clients
    // subscribing alike) share one string.
    this.handle(intern(String(data))).catch((error: unknown) => {
      this.shared.settings.logger.error({ err: error }, 'WebSocket message handling failed');
      this.close(CloseCode.InternalServerError, closeReason(error, this.isProd));
    });
  }
}
