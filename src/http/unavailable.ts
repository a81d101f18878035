import type { ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';
import { StoreUnavailableError } from '../domain/errors.js';

export { StoreUnavailableError };

/** How long a vendor is asked to wait before resending a delivery refused while the database is down. */
export const STORE_RETRY_AFTER_SECONDS = 5;

/** The GraphQL error told for a database that cannot be reached (anything else: undefined). */
export function unavailableError(error: unknown): GraphQLError | undefined {
  const original = error instanceof GraphQLError ? error.originalError : error;
  if (!(original instanceof StoreUnavailableError)) return undefined;
  return new GraphQLError(original.message, {
    ...(error instanceof GraphQLError ? { nodes: error.nodes, path: error.path } : {}),
    extensions: { code: original.code },
  });
}

/**
 * What a failed webhook delivery is answered: 503 with Retry-After when the database could not be
 * reached (nothing is durable, the vendor sends it again after a while), else 500.
 */
export function webhookFailure(error: unknown, res: ServerResponse): { status: number; body: { error: string } } {
  if (!(error instanceof StoreUnavailableError)) return { status: 500, body: { error: 'internal error' } };
  res.setHeader('retry-after', String(STORE_RETRY_AFTER_SECONDS));
  return { status: 503, body: { error: 'database unavailable, retry later' } };
}
