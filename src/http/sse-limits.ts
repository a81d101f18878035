import type { IncomingMessage } from 'node:http';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Caller } from '../auth.js';

interface HttpContext {
  /** Set by yoga for HTTP requests only (WebSocket operations carry `socket`, no `res`). */
  req?: IncomingMessage;
  res?: unknown;
  caller?: Caller;
}

/**
 * Caps the subscriptions one client holds open over HTTP (SSE) at `max`
 * (`SSE_MAX_SUBSCRIPTIONS_PER_CLIENT`): a client is the token's subject when it has one, else the
 * remote address. One more is answered with a `TOO_MANY_SUBSCRIPTIONS` error while the others
 * carry on. WebSocket operations have their own cap per connection.
 */
export function useSseSubscriptionLimit(max: number): Plugin {
  const open = new Map<string, number>();
  const release = (key: string) => {
    const count = (open.get(key) ?? 1) - 1;
    if (count > 0) open.set(key, count);
    else open.delete(key);
  };
  return {
    onSubscribe({ args }) {
      const context = args.contextValue as HttpContext;
      // Only HTTP (SSE) subscriptions: a WebSocket operation's context has no `res`.
      if (!context.res || !context.req) return;
      const key = clientOf(context.caller, context.req);
      return {
        onSubscribeResult({ result, setResult }) {
          if (!isAsyncIterable(result)) return;
          const count = open.get(key) ?? 0;
          if (count >= max) {
            void (result as AsyncIterableIterator<unknown>).return?.();
            setResult({
              errors: [
                new GraphQLError(`Too many subscriptions for this client (at most ${max})`, {
                  extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' },
                }),
              ],
            });
            return;
          }
          open.set(key, count + 1);
          let released = false;
          return {
            onEnd: () => {
              if (released) return;
              released = true;
              release(key);
            },
          };
        },
      };
    },
  };
}

function clientOf(caller: Caller | undefined, req: IncomingMessage): string {
  if (caller?.authenticated && caller.subject) return `subject:${caller.subject}`;
  return `address:${req.socket.remoteAddress ?? 'unknown'}`;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
