import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ExecutionArgs } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import type { Config } from '../config.js';
import type { ProviderId } from '../domain/status.js';
import { type AppServices, createContext, type GraphQLContext } from '../schema/context.js';
import { getSchema } from '../schema/index.js';
import { MAX_WEBHOOK_BYTES, type WebhookIntake } from '../sync/webhooks.js';

/** Webhook routes and the provider each one belongs to. */
const WEBHOOK_ROUTES: Record<string, ProviderId> = {
  '/webhooks/hms': 'HMS',
  '/webhooks/cloudflare': 'CLOUDFLARE',
  '/webhooks/dyte': 'DYTE',
  '/webhooks/livekit': 'LIVEKIT',
};

/** Paths that speak graphql-transport-ws: ours, and Apollo Router's default. */
const WEBSOCKET_PATHS = new Set(['/graphql', '/ws']);
const MAX_WEBSOCKET_PAYLOAD = 1024 * 1024;

interface ServerContext {
  req: IncomingMessage;
  res: ServerResponse;
}

type Enveloped = ReturnType<YogaServerInstance<ServerContext, GraphQLContext>['getEnveloped']>;

export interface HttpApp {
  server: Server;
  /** Starts listening; resolves with the bound port. */
  listen(port: number, host?: string): Promise<number>;
  /** Stops accepting, completes subscriptions, closes sockets. */
  close(timeoutMs: number): Promise<void>;
}

export function createHttpApp(services: AppServices, config: Config, logger: Logger, webhooks: WebhookIntake): HttpApp {
  const yoga = createYoga<ServerContext, GraphQLContext>({
    schema: getSchema(),
    graphqlEndpoint: '/graphql',
    graphiql: !config.production && { subscriptionsProtocol: 'WS' },
    landingPage: false,
    context: () => createContext(services),
    logging: {
      debug: (...args) => logger.debug(args.map(String).join(' ')),
      info: (...args) => logger.info(args.map(String).join(' ')),
      warn: (...args) => logger.warn(args.map(String).join(' ')),
      error: (...args) => logger.error({ detail: args }, 'graphql error'),
    },
  });

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const ready = services.store.isReady();
      return json(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
    }
    const webhookProvider = path ? WEBHOOK_ROUTES[path] : undefined;
    if (webhookProvider) {
      handleWebhook(webhookProvider, req, res, webhooks, logger);
      return;
    }
    return yoga(req, res);
  });

  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_WEBSOCKET_PAYLOAD });
  useServer<Record<string, unknown>, { request: IncomingMessage }>(
    {
      connectionInitWaitTimeout: 10_000,
      execute: (args) => (args.rootValue as Enveloped).execute(args),
      subscribe: (args) => (args.rootValue as Enveloped).subscribe(args),
      onSubscribe: async (ctx, _id, payload) => {
        // Run every operation through yoga's envelop, so HTTP and WebSocket share one pipeline.
        const enveloped = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
        });
        const document = enveloped.parse(payload.query);
        const errors = enveloped.validate(enveloped.schema, document);
        if (errors.length > 0) return errors;
        const args: ExecutionArgs = {
          schema: enveloped.schema,
          operationName: payload.operationName ?? null,
          document,
          variableValues: payload.variables ?? null,
          contextValue: await enveloped.contextFactory(),
          rootValue: enveloped,
        };
        return args;
      },
    },
    wss,
  );

  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (!WEBSOCKET_PATHS.has(path)) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  return {
    server,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address();
          resolve(typeof address === 'object' && address ? address.port : port);
        });
      });
    },
    async close(timeoutMs) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Subscriptions end (SSE streams complete, graphql-ws sends `complete`) before sockets close.
      services.events.close();
      await new Promise((resolve) => setImmediate(resolve));
      for (const client of wss.clients) client.close(1001, 'Server shutting down');
      server.closeIdleConnections();
      const deadline = setTimeout(() => {
        for (const client of wss.clients) client.terminate();
        for (const socket of sockets) socket.destroy();
      }, timeoutMs);
      deadline.unref();
      await closed;
      clearTimeout(deadline);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await yoga.dispose();
    },
  };
}

function handleWebhook(
  provider: ProviderId,
  req: IncomingMessage,
  res: ServerResponse,
  webhooks: WebhookIntake,
  logger: Logger,
): void {
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST');
    json(res, 405, { error: 'method not allowed' });
    return;
  }
  if (Number(req.headers['content-length'] ?? 0) > MAX_WEBHOOK_BYTES) {
    res.setHeader('connection', 'close');
    json(res, 413, { error: 'body too large' });
    req.destroy();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let refused = false;
  req.on('data', (chunk: Buffer) => {
    if (refused) return;
    size += chunk.length;
    if (size > MAX_WEBHOOK_BYTES) {
      refused = true;
      res.setHeader('connection', 'close');
      json(res, 413, { error: 'body too large' });
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (refused) return;
    const headers: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    webhooks
      .handle(provider, Buffer.concat(chunks), headers)
      .then((answer) => json(res, answer.status, answer.body))
      .catch((error: unknown) => {
        logger.error({ err: error, provider }, 'webhook failed');
        json(res, 500, { error: 'internal error' });
      });
  });
  req.on('error', () => {
    refused = true;
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
