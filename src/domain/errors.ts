import type { ProviderId, StreamKind } from './status.js';
import type { LivestreamRecord, RecordingRecord } from './types.js';

export const ERROR_CODES = [
  'VALIDATION',
  'NOT_FOUND',
  'CONFLICT',
  'PROVIDER_NOT_CONFIGURED',
  'PROVIDER_REJECTED',
  'PROVIDER_UNAVAILABLE',
  'RATE_LIMITED',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'CURSOR_EXPIRED',
  'UNAVAILABLE',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** An expected failure a client can act on; each subclass becomes a GraphQL error type. */
export abstract class DomainError extends Error {
  abstract readonly code: ErrorCode;
}

export class ValidationError extends DomainError {
  readonly code = 'VALIDATION' as const;
  constructor(
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND' as const;
  constructor(
    readonly kind: StreamKind,
    readonly id: string,
  ) {
    super(`No ${kind} with id ${id}`);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends DomainError {
  readonly code = 'CONFLICT' as const;
  constructor(
    message: string,
    readonly livestream: LivestreamRecord | null = null,
    readonly recording: RecordingRecord | null = null,
  ) {
    super(message);
    this.name = 'ConflictError';
  }
}

export type ProviderErrorCode = Extract<
  ErrorCode,
  'PROVIDER_NOT_CONFIGURED' | 'PROVIDER_REJECTED' | 'PROVIDER_UNAVAILABLE' | 'RATE_LIMITED'
>;

/** A vendor refused, failed, or is not set up. The message never carries credentials. */
export class ProviderError extends DomainError {
  constructor(
    readonly code: ProviderErrorCode,
    readonly provider: ProviderId,
    message: string,
    readonly vendorStatusCode: number | null = null,
    /** For RATE_LIMITED: how long the vendor asked us to wait (its `Retry-After`), when it said. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN' as const;
  constructor(message = 'Not allowed') {
    super(message);
    this.name = 'ForbiddenError';
  }
}

/** A change cursor older than what the change log still keeps: re-read, then resubscribe. */
export class CursorExpiredError extends DomainError {
  readonly code = 'CURSOR_EXPIRED' as const;
  constructor() {
    super('The change cursor is older than the history this service keeps: read the current state again');
    this.name = 'CursorExpiredError';
  }
}

/**
 * The database cannot be reached (PostgreSQL down or cut off): nothing was done or stored. The
 * client retries later; a webhook is answered 503 so that the vendor does.
 */
export class StoreUnavailableError extends DomainError {
  readonly code = 'UNAVAILABLE' as const;
  constructor(options?: { cause?: unknown }) {
    super('The database is unreachable: nothing was changed, try again shortly', options);
    this.name = 'StoreUnavailableError';
  }
}
