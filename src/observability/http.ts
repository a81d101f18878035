import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ProviderId } from '../domain/status.js';
import { countWebhook, webhookOutcomeOf } from './metrics.js';
import { createRequestLogger } from './request-log.js';
import { traceRequest } from './tracing.js';

/** Paths that name a route as they are; any other path is reported as `other` (span names stay bounded). */
const KNOWN_ROUTES = new Set([
  '/',
  '/graphql',
  '/ws',
  '/healthz',
  '/readyz',
  '/metrics',
  '/status/app.js',
  '/status/app.css',
  '/status/summary.json',
  '/favicon.ico',
  '/webhooks/hms',
  '/webhooks/cloudflare',
  '/webhooks/dyte',
  '/webhooks/livekit',
]);

export type RouteHandler = (req: IncomingMessage, res: ServerResponse, path: string) => void;

/**
 * The server's request listener around `route`: each request gets its id (and its log line) and,
 * with tracing on, a server span continuing the caller's `traceparent`.
 */
export function observeRequests(
  logger: Logger,
  route: RouteHandler,
): (req: IncomingMessage, res: ServerResponse) => void {
  const logRequest = createRequestLogger(logger);
  return (req, res) => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    traceRequest(req, res, KNOWN_ROUTES.has(path) ? path : 'other', () => {
      logRequest(req, res);
      route(req, res, path);
    });
  };
}

/** Counts a webhook delivery by the answer it gets; answers `res` for the caller to write to. */
export function observeWebhook(
  provider: ProviderId,
  res: ServerResponse,
  status: number,
  body: Record<string, unknown>,
): ServerResponse {
  if (!res.headersSent) countWebhook(provider, webhookOutcomeOf(status, body));
  return res;
}
