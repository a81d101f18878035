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

function upgradeRequest(request: IncomingMessage): IncomingMessage {
  const { headers, url, method, httpVersion } = request;
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
  const server = makeServer(options);
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
    // `on` rather than `once`: a socket closes once anyway, and `once` adds a wrapper per socket.
    socket.on('error', (error) => {
      console.error('Internal error emitted on a WebSocket socket. Please check your implementation.', error);
      socket.close(CloseCode.InternalServerError, closeReason(error, isProd));
    });
    socket.on('pong', onPong);
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            socket.send(data, (error) => (error ? reject(error) : resolve()));
          }),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (handle) =>
          socket.on('message', (data) => {
            // Not awaited here: a subscription's handler runs as long as the subscription does,
            // and awaiting it would keep this frame's buffer alive with it.
            handle(String(data)).catch((error: unknown) => {
              console.error(
                'Internal error occurred during message handling. Please check your implementation.',
                error,
              );
              socket.close(CloseCode.InternalServerError, closeReason(error, isProd));
            });
          }),
      },
      { socket, request: upgradeRequest(request) } as Extra & Partial<E>,
    );
    socket.on('close', (code, reason) => {
      awaitingPong.delete(socket);
      if (
        !isProd &&
        code === CloseCode.SubprotocolNotAcceptable &&
        socket.protocol === DEPRECATED_GRAPHQL_WS_PROTOCOL
      ) {
        console.warn(
          `Client provided the unsupported and deprecated subprotocol "${socket.protocol}" used by subscriptions-transport-ws.`,
        );
      }
      closed(code, String(reason));
    });
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
