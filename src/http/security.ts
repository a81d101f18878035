import type { IncomingMessage, ServerResponse } from 'node:http';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { type GraphQLError, NoSchemaIntrospectionCustomRule, type ValidationContext } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { AuthenticationError, type Authenticator, type Caller, OPEN_CALLER, SUBGRAPH_SECRET_HEADER } from '../auth.js';
import type { Config } from '../config.js';
import { answerEarly, graphqlErrorText } from './transport.js';

/** Largest GraphQL request body (HTTP) and WebSocket message accepted. */
export const MAX_GRAPHQL_BODY_BYTES = 1024 * 1024;

/**
 * Headers that make a GET or form/multipart request non-simple, so a browser must preflight it:
 * yoga's own, a neutral one, those Apollo clients already send, and the router secret's, which
 * routers send (Hive Gateway's SSE subscriptions are GETs). A page cannot send any of them without
 * a preflight that CORS refuses; a router's value is then checked (SUBGRAPH_SECRET). JSON bodies
 * need none.
 */
export const CSRF_HEADERS = [
  'x-graphql-yoga-csrf',
  'graphql-require-preflight',
  'apollo-require-preflight',
  'x-apollo-operation-name',
  SUBGRAPH_SECRET_HEADER,
];

/** A caller with no role: what a context gets if, somehow, no authentication ran for it. */
const NOBODY: Caller = { authenticated: false, subject: null, roles: new Set(), expiresAt: null };

const callers = new WeakMap<Request, Caller>();
/** Callers already found from a request's token before its body was read (`server.ts`). */
const earlyCallers = new WeakMap<IncomingMessage, Caller>();

/** The caller the authentication plugin found for an HTTP request. */
export function callerOf(request: Request | undefined): Caller {
  return (request && callers.get(request)) ?? NOBODY;
}

/** `Error` with `code: UNAUTHENTICATED` and HTTP 401, in the shape yoga answers errors with. */
function unauthenticated(message: string) {
  return createGraphQLError(message, {
    extensions: {
      code: 'UNAUTHENTICATED',
      http: { status: 401, headers: { 'www-authenticate': 'Bearer' } },
    },
  });
}

/**
 * Armor throws its refusals out of `validate` by default, which yoga answers with HTTP 200 and
 * graphql-ws with a closed socket; reported as validation errors they are a 400, and an `error`
 * message for that one operation.
 */
const asValidationError = {
  propagateOnRejection: false,
  onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(error)],
};

/**
 * The yoga plugins that decide who may ask what, over HTTP. The envelop ones among them (armor,
 * introspection) also run for WebSocket operations, which go through `yoga.getEnveloped`.
 */
export function securityPlugins(config: Config, authenticator: Authenticator): Plugin[] {
  const limits = config.graphql;
  const plugins: Plugin[] = [
    useCSRFPrevention({ requestHeaders: CSRF_HEADERS }),
    {
      // Before the query is even parsed: an unauthenticated caller learns nothing about the schema.
      // Synchronous when nothing is to be verified (open mode, or a token already verified before
      // the body was read): no promise on the way of every request.
      onRequestParse({ request, serverContext }) {
        const req = (serverContext as { req?: IncomingMessage }).req;
        const early = req && earlyCallers.get(req);
        if (early || !authenticator.enabled) {
          callers.set(request, early || OPEN_CALLER);
          return;
        }
        return authenticator.authenticate(request.headers.get('authorization') ?? undefined).then(
          (caller) => {
            callers.set(request, caller);
          },
          (error: unknown) => {
            throw error instanceof AuthenticationError ? unauthenticated(error.message) : error;
          },
        );
      },
    },
    EnvelopArmorPlugin({
      maxDepth: { n: limits.maxDepth, flattenFragments: true, ignoreIntrospection: true, ...asValidationError },
      costLimit: { maxCost: limits.maxCost, flattenFragments: true, ignoreIntrospection: true, ...asValidationError },
      maxAliases: { n: limits.maxAliases, ...asValidationError },
      // A parse-time limit: it throws a syntax error, which yoga answers with 400 too.
      maxTokens: { n: limits.maxTokens },
      maxDirectives: { n: limits.maxDirectives, ...asValidationError },
      // Suggestions ("Did you mean …?") would leak the schema that introspection hides.
      blockFieldSuggestion: { enabled: !limits.introspection },
    }),
  ];
  if (!limits.introspection) {
    plugins.push({ onValidate: ({ addValidationRule }) => addValidationRule(NoSchemaIntrospectionCustomRule) });
  }
  return plugins;
}

/**
 * With authentication on, a request with a body and a missing or invalid token is answered 401
 * before its body is read (the same answer yoga would give after reading it); a valid token's
 * caller is kept for yoga's authentication, which then does not verify the token again. A key set
 * that cannot be fetched is left to yoga (its 500). Answers whether it refused.
 */
export async function refuseUnauthenticatedEarly(
  req: IncomingMessage,
  res: ServerResponse,
  authenticator: Authenticator,
): Promise<boolean> {
  try {
    earlyCallers.set(req, await authenticator.authenticate(req.headers.authorization));
    return false;
  } catch (error) {
    if (!(error instanceof AuthenticationError)) return false;
    answerEarly(req, res, 401, graphqlErrorText(error.message, 'UNAUTHENTICATED'), { 'www-authenticate': 'Bearer' });
    return true;
  }
}

/**
 * Reads a request body of at most `limit` bytes. Resolves null, having answered 413 (by default a
 * GraphQL-shaped error; `tooLargeText` is a route's own JSON), when it is larger (by its
 * Content-Length, before reading any of it, or once that many bytes have arrived), and null when
 * the request fails. The 413 reaches the client whatever it is (see `answerEarly`).
 */
export function readLimitedBody(
  req: IncomingMessage,
  res: ServerResponse,
  limit: number,
  tooLargeText?: string,
): Promise<Buffer | null> {
  return new Promise((resolve) => {
    // The refusal is a module function, not a closure made for every request that reads its body.
    if (Number(req.headers['content-length'] ?? 0) > limit) return resolve(refuseBody(req, res, limit, tooLargeText));
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        resolve(refuseBody(req, res, limit, tooLargeText));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks));
    });
    req.on('error', () => {
      if (done) return;
      done = true;
      resolve(null);
    });
  });
}

/** Answers 413 to a body larger than `limit`; answers null, what `readLimitedBody` resolves then. */
function refuseBody(req: IncomingMessage, res: ServerResponse, limit: number, tooLargeText?: string): null {
  answerEarly(
    req,
    res,
    413,
    tooLargeText ?? graphqlErrorText(`Request body larger than ${limit} bytes`, 'PAYLOAD_TOO_LARGE'),
  );
  return null;
}

/** A GraphQL-shaped error answered outside yoga (router secret, body limit). */
export function writeError(res: ServerResponse, status: number, message: string, code: string): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify({ errors: [{ message, extensions: { code } }] }));
}
