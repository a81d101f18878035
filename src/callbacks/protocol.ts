import type { ExecutionResult, GraphQLFormattedError } from 'graphql';
import { z } from 'zod';

// Apollo's HTTP callback protocol for subscriptions, `callback/1.0`: what a router's subscription
// request carries and the messages sent back to its callback URL.

/** What a router's subscription request accepts: `application/json;callbackSpec=1.0`. */
export function acceptsCallbacks(accept: string | null | undefined): boolean {
  return accept !== null && accept !== undefined && /callbackSpec\s*=\s*"?1\.0"?/i.test(accept);
}

/** Sent with every message, and answered by the router on its `check` answers. */
export const PROTOCOL_HEADER = 'subscription-protocol';
export const PROTOCOL_VERSION = 'callback/1.0';

/** Heartbeats more often than this are refused (each one is a request per subscription). */
export const MIN_HEARTBEAT_INTERVAL_MS = 1000;
const MAX_HEARTBEAT_INTERVAL_MS = 3_600_000;
/** Apollo's default when a router does not say. */
const DEFAULT_HEARTBEAT_INTERVAL_MS = 5000;

/** `extensions.subscription` of a router's request. */
export const subscriptionExtension = z.object({
  callbackUrl: z.string({ error: 'callbackUrl must be a string' }).min(1, { error: 'callbackUrl is required' }),
  subscriptionId: z
    .string({ error: 'subscriptionId must be a string' })
    .min(1, { error: 'subscriptionId is required' })
    .max(256, { error: 'subscriptionId must be at most 256 characters' }),
  verifier: z
    .string({ error: 'verifier must be a string' })
    .min(1, { error: 'verifier is required' })
    .max(1024, { error: 'verifier must be at most 1024 characters' }),
  heartbeatIntervalMs: z
    .number({ error: 'heartbeatIntervalMs must be a number' })
    .int({ error: 'heartbeatIntervalMs must be a whole number' })
    .max(MAX_HEARTBEAT_INTERVAL_MS, { error: `heartbeatIntervalMs must be at most ${MAX_HEARTBEAT_INTERVAL_MS}` })
    .refine((ms) => ms === 0 || ms >= MIN_HEARTBEAT_INTERVAL_MS, {
      error: `heartbeatIntervalMs must be 0 (no heartbeats) or at least ${MIN_HEARTBEAT_INTERVAL_MS}`,
    })
    .default(DEFAULT_HEARTBEAT_INTERVAL_MS),
});

export type SubscriptionExtension = z.infer<typeof subscriptionExtension>;

/** The messages of the protocol, as sent (JSON) to the callback URL. */
export type CallbackMessage =
  | { kind: 'subscription'; action: 'check'; id: string; verifier: string }
  | { kind: 'subscription'; action: 'next'; id: string; verifier: string; payload: ExecutionResult }
  | { kind: 'subscription'; action: 'complete'; id: string; verifier: string; errors?: GraphQLFormattedError[] };

/**
 * A `check` answer that confirms the subscription: 204, with the protocol header when the router
 * sends one (Apollo Router does; Hive Gateway answers a bare 204). Anything else refuses it.
 */
export function confirmsCheck(status: number, protocol: string | undefined): boolean {
  return status === 204 && (protocol === undefined || protocol.trim() === PROTOCOL_VERSION);
}
