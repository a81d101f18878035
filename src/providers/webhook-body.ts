import type { ZodType } from 'zod';
import type { ProviderId } from '../domain/status.js';

/** Thrown by `WebhookHandler.parse` for a body that is not what the vendor sends: answered 400. */
export class MalformedWebhookError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedWebhookError';
  }
}

/**
 * Reads a verified webhook body with the vendor's schema; a body of another shape is refused as
 * malformed (answered 400), naming where it differs but never echoing its values.
 */
export function readWebhookBody<T>(provider: ProviderId, schema: ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
    throw new MalformedWebhookError(`${provider} webhook is not the vendor's shape${where}`);
  }
  return parsed.data;
}
