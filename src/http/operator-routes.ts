import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { AuthenticationError, type Authenticator, secretMatches } from '../auth.js';
import type { Config } from '../config.js';
import { registry } from '../observability/metrics.js';
import { RECENT_MINUTES, recent } from '../observability/recent.js';

/**
 * The routes an operator uses: `/metrics` (Prometheus, behind `METRICS_TOKEN` when set) and the
 * status page at `/` with its script, style and activity summary. The page itself holds no data:
 * it reads streams through GraphQL and the subscriptions like any client, with the caller's token.
 */

/** The page's files, in src/ (found from src/http/ and dist/http/ alike, both two levels down). */
const ASSETS = fileURLToPath(new URL('../../src/http/status-page/', import.meta.url));

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/status/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/status/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

/** Everything the page loads comes from this service; nothing inline, nothing from elsewhere. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface OperatorRoutes {
  /** Answers the request when its path is one of these routes; false otherwise. */
  handle(path: string, req: IncomingMessage, res: ServerResponse): boolean;
}

export function createOperatorRoutes(config: Config, authenticator: Authenticator): OperatorRoutes {
  const files = new Map(
    Object.entries(FILES).map(([path, { file, type }]) => [path, { type, body: readFileSync(ASSETS + file) }]),
  );
  return {
    handle(path, req, res) {
      if (path === '/metrics') {
        serveMetrics(config.metricsToken, req, res);
        return true;
      }
      if (path === '/status/summary.json') {
        serveSummary(authenticator, req, res);
        return true;
      }
      if (path === '/favicon.ico') {
        // No icon: answered empty rather than 404, which a browser reports as an error.
        send(res, 204, 'image/x-icon', '');
        return true;
      }
      const file = files.get(path);
      if (!file) return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        send(res, 405, 'text/plain; charset=utf-8', 'method not allowed', { allow: 'GET, HEAD' });
        return true;
      }
      send(res, 200, file.type, file.body, {
        'content-security-policy': CONTENT_SECURITY_POLICY,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-cache',
      });
      return true;
    },
  };
}

function serveMetrics(token: string | undefined, req: IncomingMessage, res: ServerResponse): void {
  if (token && !secretMatches(bearer(req.headers.authorization), token)) {
    send(res, 401, 'text/plain; charset=utf-8', 'metrics need Authorization: Bearer <METRICS_TOKEN>\n', {
      'www-authenticate': 'Bearer',
    });
    return;
  }
  registry.metrics().then(
    (text) => send(res, 200, registry.contentType, text),
    () => send(res, 500, 'text/plain; charset=utf-8', 'metrics could not be collected\n'),
  );
}

/** Activity per vendor for the page; with authentication on, only for a viewer or a host. */
function serveSummary(authenticator: Authenticator, req: IncomingMessage, res: ServerResponse): void {
  const answer = () =>
    send(
      res,
      200,
      'application/json; charset=utf-8',
      JSON.stringify({ minutes: RECENT_MINUTES, now: new Date().toISOString(), vendors: recent.summary() }),
    );
  if (!authenticator.enabled) {
    answer();
    return;
  }
  authenticator.authenticate(req.headers.authorization ?? undefined).then(
    (caller) => {
      if (caller.roles.has('viewer') || caller.roles.has('host')) answer();
      else
        send(
          res,
          403,
          'application/json; charset=utf-8',
          JSON.stringify({ error: 'a viewer or host token is needed' }),
        );
    },
    (error: unknown) => {
      const message = error instanceof AuthenticationError ? error.message : 'authentication failed';
      send(res, 401, 'application/json; charset=utf-8', JSON.stringify({ error: message }), {
        'www-authenticate': 'Bearer',
      });
    },
  );
}

function bearer(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return value.startsWith('Bearer ') ? value.slice(7).trim() : value.trim();
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}
