import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { activeTraceId } from './tracing.js';

export const REQUEST_ID_HEADER = 'x-request-id';

/** An incoming request id is kept only if it is this short and plain (it goes into every log line). */
const ACCEPTED_REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

/** The request's id: the caller's `x-request-id` when it is a plausible one, else a new UUID. */
export function requestIdOf(req: IncomingMessage): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  return typeof incoming === 'string' && ACCEPTED_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

export type RequestLogger = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * One JSON line per request (pino-http), when it completes: method, path, status, duration, the
 * request id (also answered in the `x-request-id` header) and, with tracing on, the trace id.
 * Query strings are left out (they may carry a GraphQL query or a token).
 */
export function createRequestLogger(logger: Logger): RequestLogger {
  if (!logger.isLevelEnabled('info')) {
    // Nothing would be written: only the id is answered.
    return (req, res) => res.setHeader(REQUEST_ID_HEADER, requestIdOf(req));
  }
  const traceIds = new WeakMap<IncomingMessage, string>();
  const middleware = pinoHttp({
    logger,
    genReqId: (req, res) => {
      const id = requestIdOf(req);
      res.setHeader(REQUEST_ID_HEADER, id);
      return id;
    },
    // The request's own line says it all; handlers log through the app's logger.
    quietReqLogger: true,
    customAttributeKeys: { reqId: 'requestId', responseTime: 'durationMs' },
    customProps: (req) => {
      const traceId = traceIds.get(req);
      return traceId ? { traceId } : {};
    },
    customSuccessMessage: (req, res) => `${req.method} ${pathOf(req)} ${res.statusCode}`,
    customErrorMessage: (req, res) => `${req.method} ${pathOf(req)} ${res.statusCode}`,
    customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? 'error' : 'info'),
    serializers: {
      req: (req: { method: string; url: string; headers: Record<string, string | undefined> }) => ({
        method: req.method,
        path: pathOf(req),
        userAgent: req.headers['user-agent'],
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  });
  return (req, res) => {
    // Read while the request's span is the active one (the line itself is written at the end).
    const traceId = activeTraceId();
    if (traceId) traceIds.set(req, traceId);
    middleware(req, res);
  };
}

function pathOf(req: { url?: string }): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
