import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { useApolloInlineTrace } from '@graphql-yoga/plugin-apollo-inline-trace';
import { type DocumentNode, type ExecutionArgs, GraphQLError, type GraphQLSchema } from 'graphql';
import { createYoga, maskError, type YogaServerInstance } from 'graphql-yoga';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import {
  AuthenticationError,
  type Caller,
  connectionCredential,
  connectionSecret,
  createAuthenticator,
  SUBGRAPH_SECRET_HEADER,
  secretMatches,
} from '../auth.js';
import { CallbackSubscriptions } from '../callbacks/index.js';
import type { Config } from '../config.js';
import type { ProviderId } from '../domain/status.js';
import { type Extra, useServer, useSharedSubscriptionExecution } from '../fanout/index.js';
import { graphqlObservabilityPlugins } from '../observability/graphql.js';
import { observeRequests, observeWebhook } from '../observability/http.js';
import { countWebhook } from '../observability/metrics.js';
import { inSpan } from '../observability/tracing.js';
import { yogaLogging } from '../observability/yoga-log.js';
import { WEBHOOK_ROUTES } from '../providers/index.js';
import { type AppServices, createContext, type GraphQLContext } from '../schema/context.js';
import { buildSchema, getSchema } from '../schema/index.js';
import { MAX_WEBHOOK_BYTES, type WebhookIntake } from '../sync/webhooks.js';
import { callbackOperation, useCallbackSubscriptions } from './callbacks.js';
import { useCompiledQueries } from './jit.js';
import { createOperatorRoutes } from './operator-routes.js';
import {
  callerOf,
  MAX_GRAPHQL_BODY_BYTES,
  readLimitedBody,
  refuseUnauthenticatedEarly,
  securityPlugins,
  writeError,
} from './security.js';
import { SseBacklog, useSseEventIds } from './sse.js';
import { useSseSubscriptionLimit } from './sse-limits.js';
import { useHiddenSuggestions } from './suggestions.js';
import { answerEarly, boundServer, corsFor, hasBody, SERVER_OPTIONS } from './transport.js';
import { unavailableError, webhookFailure } from './unavailable.js';

/** Paths that speak graphql-transport-ws: ours, and Apollo Router's default. */
const WEBSOCKET_PATHS = new Set(['/graphql', '/ws']);
const MAX_WEBSOCKET_PAYLOAD = MAX_GRAPHQL_BODY_BYTES;
/** WebSocket close codes: bad or missing token (graphql-ws closes 4403 itself on a refused secret). */
const CLOSE_UNAUTHENTICATED = 4401;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Apollo Router's request for a federated trace of the operation (value `ftv1`). */
const TRACE_HEADER = 'apollo-federation-include-trace';

interface ServerContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** Set for WebSocket operations (authenticated at connection_init); HTTP finds it per request. */
  caller?: Caller;
}

type Enveloped = ReturnType<YogaServerInstance<ServerContext, GraphQLContext>['getEnveloped']>;

export interface HttpApp {
  server: Server;
  /** Subscriptions of Apollo's HTTP callback protocol this replica emits. */
  callbacks: CallbackSubscriptions;
  /** Starts listening; resolves with the bound port. */
  listen(port: number, host?: string): Promise<number>;
  /** Stops accepting, completes subscriptions, closes sockets. */
  close(timeoutMs: number): Promise<void>;
}

export function createHttpApp(services: AppServices, config: Config, logger: Logger, webhooks: WebhookIntake): HttpApp {
  const authenticator = createAuthenticator(config.auth);
  if (!authenticator.enabled) {
    logger.warn(
      'AUTHENTICATION IS OFF: every caller may start and stop streams and read stream keys. ' +
        'Set AUTH_JWT_SECRET or AUTH_JWKS_URL before exposing this service (production refuses to start without).',
    );
  }
  const callbacks = new CallbackSubscriptions(services.store, config.callbacks, logger);
  const makeYoga = (schema: GraphQLSchema, tracing: boolean) =>
    createYoga<ServerContext, GraphQLContext>({
      schema,
      graphqlEndpoint: '/graphql',
      graphiql: config.graphql.introspection && { subscriptionsProtocol: 'WS' },
      landingPage: false,
      // No cross-origin browser access unless CORS_ORIGINS names the origin (yoga's default
      // reflects any origin with credentials).
      cors: corsFor(config),
      // The body is already read and limited (MAX_GRAPHQL_BODY_BYTES, `readLimitedBody` below):
      // yoga's own limit would only pipe the same bytes through another stream.
      maxRequestBodySize: false,
      plugins: [
        ...securityPlugins(config, authenticator),
        useHiddenSuggestions(!config.graphql.introspection),
        // Traced requests keep graphql-js: their resolvers are wrapped to record the trace.
        ...(tracing ? [useApolloInlineTrace()] : [useCompiledQueries()]),
        ...graphqlObservabilityPlugins(config.tracing.tracesUrl !== undefined),
        useSseEventIds(),
        useSseSubscriptionLimit(config.transport.maxSseSubscriptionsPerClient),
        useCallbackSubscriptions(callbacks),
        // Last: it ends the `onSubscribe` chain once a subscription's event stream exists.
        useSharedSubscriptionExecution(),
      ],
      // Unexpected errors reach clients as "Unexpected error." (never their details); yoga logs them.
      // A database that cannot be reached is told as such (`UNAVAILABLE`: retry later).
      maskedErrors: { maskError: (error, message) => unavailableError(error) ?? maskError(error, message, false) },
      context: ({ request, caller, res }) => {
        const context = createContext(services, caller ?? callerOf(request));
        // WebSocket operations carry no fetch Request; their backlog is the socket's (onSubscribe below).
        if (!request) return context;
        context.lastEventId = request.headers.get('last-event-id');
        // An SSE response holds its client's queued events: bounded like a WebSocket's.
        if (res && request.headers.get('accept')?.includes('text/event-stream')) {
          context.backlog = new SseBacklog(res, config.transport.websocket.maxBufferedBytes, logger);
        }
        return context;
      },
      logging: yogaLogging(logger),
    });
  const yoga = makeYoga(getSchema(), false);
  callbacks.useOperation(callbackOperation(() => yoga as never));
  // Federated tracing (`extensions.ftv1`) for the requests where the router asks for it
  // (`apollo-federation-include-trace: ftv1`), and only those: `useApolloInlineTrace` wraps every
  // resolver of its schema (`@envelop/on-resolve`), which costs every request even when it records
  // nothing. So it gets its own copy of the schema (built on the first such request) and its own
  // yoga, with the same plugins otherwise; every other request runs unwrapped resolvers.
  let tracedYoga: ReturnType<typeof makeYoga> | undefined;
  const yogaFor = (req: IncomingMessage) => {
    if (req.headers[TRACE_HEADER] !== 'ftv1') return yoga;
    tracedYoga ??= makeYoga(buildSchema(), true);
    return tracedYoga;
  };

  const operatorRoutes = createOperatorRoutes(config, authenticator);
  const server = createServer(
    SERVER_OPTIONS,
    observeRequests(logger, (req, res, path) => {
      if (path === '/healthz') return json(res, 200, { status: 'ok' });
      if (path === '/readyz') {
        const answer = (ready: boolean) => json(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
        return void services.store.isReady().then(answer, () => answer(false));
      }
      // Each vendor declares its webhook route (`webhookPath` in `providers/<vendor>/index.ts`).
      const webhookProvider = path ? WEBHOOK_ROUTES.get(path) : undefined;
      if (webhookProvider) {
        if (refuseWebhookEarly(webhookProvider, req, res, services)) return;
        handleWebhook(webhookProvider, req, res, webhooks, logger);
        return;
      }
      // The status page and /metrics have their own guards (a viewer's token, METRICS_TOKEN).
      if (operatorRoutes.handle(path, req, res)) return;
      // Health and webhooks (which check their vendor's signature) are open; the rest is the router's.
      if (config.subgraphSecret && !secretMatches(req.headers[SUBGRAPH_SECRET_HEADER], config.subgraphSecret)) {
        return writeError(
          res,
          401,
          `Only the router may call this subgraph (${SUBGRAPH_SECRET_HEADER})`,
          'UNAUTHENTICATED',
        );
      }
      const handler = yogaFor(req);
      if (req.method === 'GET' || req.method === 'HEAD') return handler(req, res);
      const answer = () =>
        readLimitedBody(req, res, MAX_GRAPHQL_BODY_BYTES).then((body) => {
          if (!body) return;
          // yoga (whatwg-node) reads an already-read body from `req.body`.
          (req as IncomingMessage & { body?: Buffer }).body = body;
          return handler(req, res);
        });
      if (!authenticator.enabled || !hasBody(req)) return void answer();
      refuseUnauthenticatedEarly(req, res, authenticator).then((refused) => {
        if (!refused) answer();
      });
    }),
  );
  boundServer(server, config);

  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_WEBSOCKET_PAYLOAD });
  const graphqlWs = useServer<Extra & { caller?: Caller }>(
    {
      connectionInitWaitTimeout: config.graphql.wsInitTimeoutMs,
      onConnect: async (ctx) => {
        const { request, socket } = ctx.extra;
        const params = ctx.connectionParams;
        // Returning false makes graphql-ws close with 4403 Forbidden.
        if (config.subgraphSecret && !secretMatches(connectionSecret(params, request.headers), config.subgraphSecret)) {
          return false;
        }
        try {
          const caller = await authenticator.authenticate(connectionCredential(params, request.headers));
          ctx.extra.caller = caller;
          if (caller.expiresAt !== null) {
            // The socket outlives no token: it closes when the token expires.
            const expiry = setTimeout(
              () => socket.close(CLOSE_UNAUTHENTICATED, 'Token expired'),
              Math.min(Math.max(caller.expiresAt - Date.now(), 0), MAX_TIMER_MS),
            );
            expiry.unref();
            socket.once('close', () => clearTimeout(expiry));
          }
          return true;
        } catch (error) {
          if (!(error instanceof AuthenticationError)) throw error;
          socket.close(CLOSE_UNAUTHENTICATED, error.message.slice(0, 120));
          return false;
        }
      },
      execute: (args) => (args.rootValue as Enveloped).execute(args),
      subscribe: (args) => {
        // The pipeline rides in `rootValue` only to get here: a subscription keeps its args for
        // its whole life, so it lets go of the pipeline's functions (events bring their own root).
        const enveloped = args.rootValue as Enveloped;
        args.rootValue = undefined;
        return enveloped.subscribe(args);
      },
      onSubscribe: async (ctx, _id, payload) => {
        // graphql-ws has already counted this one among the connection's operations.
        if (ctx.subscriptions.size > config.maxSubscriptionsPerConnection) {
          return [
            new GraphQLError(
              `Too many subscriptions on this connection (at most ${config.maxSubscriptionsPerConnection})`,
              { extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' } },
            ),
          ];
        }
        // Run every operation through yoga's envelop, so HTTP and WebSocket share one pipeline
        // (armor's limits and the introspection rule included).
        // Only what the pipeline reads (graphql-ws' own connection state stays out of the
        // context, which a subscription keeps for its life).
        const enveloped = yoga.getEnveloped({
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params: payload,
          caller: ctx.extra.caller,
        });
        let document: DocumentNode;
        try {
          document = enveloped.parse(payload.query);
        } catch (error) {
          // A syntax error (or armor's token limit) answers this operation, not the connection.
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        let errors: readonly GraphQLError[];
        try {
          errors = enveloped.validate(enveloped.schema, document);
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        if (errors.length > 0) return errors;
        const args: ExecutionArgs = {
          schema: enveloped.schema,
          operationName: payload.operationName ?? null,
          document,
          variableValues: payload.variables ?? null,
          contextValue: await enveloped.contextFactory(),
          rootValue: enveloped,
        };
        // Events queued for this operation count in the socket's slow-consumer bound.
        (args.contextValue as GraphQLContext).backlog = graphqlWs.backlogOf(ctx.extra.socket);
        return args;
      },
    },
    wss,
    { limits: config.transport.websocket, production: config.production, logger },
  );

  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (!WEBSOCKET_PATHS.has(path)) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    // Sockets that have not sent connection_init yet are capped (WS_MAX_PENDING_INIT).
    if (!graphqlWs.acceptsMore()) {
      socket.end(
        'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  return {
    server,
    callbacks,
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
      // Callback subscriptions stop first, without `complete`: another replica (or this one,
      // restarted) takes them over.
      await callbacks.stop();
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
      await Promise.all([yoga.dispose(), tracedYoga?.dispose()]);
    },
  };
}

/**
 * A webhook route whose vendor cannot verify deliveries (not configured) is answered 401 before
 * its body is read. Answers whether it refused.
 */
function refuseWebhookEarly(
  provider: ProviderId,
  req: IncomingMessage,
  res: ServerResponse,
  services: AppServices,
): boolean {
  if (req.method !== 'POST' || services.providers.get(provider).webhooks) return false;
  answerEarly(req, res, 401, JSON.stringify({ error: `webhooks for ${provider} are not configured` }));
  return true;
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
  readLimitedBody(req, res, MAX_WEBHOOK_BYTES, TOO_LARGE).then((body) => {
    if (!body && res.statusCode === 413) countWebhook(provider, 'too_large');
    if (!body) return;
    const headers: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    // One trace from the delivery through apply to publish (the store's group commit keeps it).
    inSpan('webhook.delivery', { 'livestream.provider': provider }, () => webhooks.handle(provider, body, headers))
      .then((result) => answerWebhook(provider, res, result.status, result.body))
      .catch((error: unknown) => {
        const failure = webhookFailure(error, res);
        logger[failure.status === 503 ? 'warn' : 'error']({ err: error, provider }, 'webhook failed');
        answerWebhook(provider, res, failure.status, failure.body);
      });
  });
}

const TOO_LARGE = JSON.stringify({ error: 'body too large' });

/** A webhook's answer, counted by its outcome. */
function answerWebhook(provider: ProviderId, res: ServerResponse, status: number, body: Record<string, unknown>): void {
  json(observeWebhook(provider, res, status, body), status, body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  // With its length known the answer goes out in one write, not as chunks.
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
