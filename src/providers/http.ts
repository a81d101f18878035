import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  type IBackoff,
  type IBackoffFactory,
  type IRetryBackoffContext,
  retry,
  TaskCancelledError,
  TimeoutStrategy,
  timeout,
} from 'cockatiel';
import { ProviderError } from '../domain/errors.js';
import type { ProviderId } from '../domain/status.js';

/**
 * The one way providers talk HTTP to a vendor: a timeout on every attempt, jittered exponential
 * retries (only for calls that are safe to repeat), and a circuit breaker per provider. A 429 is
 * sent again after its `Retry-After` when that wait is at most `maxRetryAfterMs`
 * (VENDOR_MAX_RETRY_AFTER_MS), so a start or stop never hangs for long; a longer wait fails at once
 * as `RATE_LIMITED`, carrying the vendor's wait (`retryAfterMs`) so the poller can come back after
 * it. Failures become `ProviderError`s whose messages never carry credentials.
 */

/** VENDOR_TIMEOUT_MS, VENDOR_MAX_RETRIES and VENDOR_MAX_RETRY_AFTER_MS (`config.vendor`). */
export interface VendorLimits {
  /** Timeout of each attempt. */
  timeoutMs: number;
  /** Retries of a call that is safe to repeat, and of any call answered 429. */
  maxRetries: number;
  /** Longest `Retry-After` waited before sending again; a longer one fails at once as RATE_LIMITED. */
  maxRetryAfterMs: number;
}

/** Just the limits out of a vendor's options. */
export function limitsOf({ timeoutMs, maxRetries, maxRetryAfterMs }: VendorLimits): VendorLimits {
  return { timeoutMs, maxRetries, maxRetryAfterMs };
}

export interface VendorHttpOptions extends VendorLimits {
  provider: ProviderId;
  baseUrl: string;
  /** Headers that authenticate a call; called per attempt so tokens can be re-minted. */
  auth: () => Promise<Record<string, string>> | Record<string, string>;
  /** Pulls the vendor's own error message out of an error body. */
  errorMessage?: (body: unknown) => string | undefined;
  /** Consecutive failures that open the breaker, and how long it stays open. */
  breakerThreshold?: number;
  breakerHalfOpenAfterMs?: number;
}

export interface VendorRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | null | undefined>;
  body?: unknown;
  /** Safe to send again after an unclear failure (reads, stops). Starts are not. */
  idempotent: boolean;
  headers?: Record<string, string>;
}

export interface VendorResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/** A vendor answered with an error status, or could not be reached. */
export class VendorHttpError extends Error {
  constructor(
    message: string,
    /** HTTP status, or 0 when no answer came (network error, timeout). */
    readonly status: number,
    readonly vendorMessage: string | undefined,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = 'VendorHttpError';
  }

  /** True when the vendor may or may not have acted (no answer, or a 5xx). */
  get ambiguous(): boolean {
    return this.status === 0 || this.status >= 500;
  }

  get retryable(): boolean {
    return this.ambiguous || this.status === 429;
  }
}

/** Exponential backoff with jitter, except after a 429 that says how long to wait. */
class RetryAfterBackoff implements IBackoffFactory<IRetryBackoffContext<unknown>> {
  constructor(private readonly exponential: IBackoffFactory<unknown>) {}

  next(context: IRetryBackoffContext<unknown>): IBackoff<IRetryBackoffContext<unknown>> {
    return this.wrap(this.exponential.next(context), context);
  }

  private wrap(
    inner: IBackoff<unknown>,
    context: IRetryBackoffContext<unknown>,
  ): IBackoff<IRetryBackoffContext<unknown>> {
    const error = 'error' in context.result ? context.result.error : undefined;
    const retryAfter = error instanceof VendorHttpError ? error.retryAfterMs : null;
    return {
      duration: retryAfter ?? inner.duration,
      next: (nextContext) => this.wrap(inner.next(nextContext), nextContext),
    };
  }
}

/** The vendor may or may not have acted: no answer, a 5xx, an unreadable 2xx, or a timeout. */
export function isAmbiguous(error: unknown): boolean {
  if (error instanceof VendorHttpError) return error.ambiguous;
  // Timeouts and an open breaker reach providers already as ProviderErrors (see `toProviderError`).
  return error instanceof ProviderError && error.code === 'PROVIDER_UNAVAILABLE';
}

/**
 * A start is sent once, never blindly again. When its outcome is unclear (`isAmbiguous`) the vendor
 * may have started the job anyway, so the room's active job is read and adopted when there is one;
 * otherwise, and after any clear failure, the start's error stands (as `toError` words it).
 */
export async function startOnce<T>(
  send: () => Promise<T>,
  readActive: () => Promise<T | null>,
  toError: (error: unknown) => unknown = (error) => error,
): Promise<T> {
  try {
    return await send();
  } catch (error) {
    const failure = toError(error);
    if (!isAmbiguous(error)) throw failure;
    const active = await readActive().catch(() => null);
    if (!active) throw failure;
    return active;
  }
}

export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

export class VendorHttpClient {
  private readonly breaker;
  private readonly retryPolicy;
  private readonly rateLimitRetryPolicy;
  private readonly attemptTimeout;

  constructor(private readonly options: VendorHttpOptions) {
    this.attemptTimeout = timeout(options.timeoutMs, TimeoutStrategy.Aggressive);
    // Only failures that say the vendor is unwell count toward opening the breaker, not 4xx.
    this.breaker = circuitBreaker(
      handleWhen(
        (error) => (error instanceof VendorHttpError && error.ambiguous) || error instanceof TaskCancelledError,
      ),
      {
        halfOpenAfter: options.breakerHalfOpenAfterMs ?? 10_000,
        breaker: new ConsecutiveBreaker(options.breakerThreshold ?? 5),
      },
    );
    const backoff = () => new RetryAfterBackoff(new ExponentialBackoff({ initialDelay: 200, maxDelay: 5_000 }));
    const waitsTooLong = (error: VendorHttpError) =>
      error.status === 429 && (error.retryAfterMs ?? 0) > options.maxRetryAfterMs;
    this.retryPolicy = retry(
      handleWhen(
        (error) =>
          (error instanceof VendorHttpError && error.retryable && !waitsTooLong(error)) ||
          error instanceof TaskCancelledError,
      ),
      { maxAttempts: options.maxRetries, backoff: backoff() },
    );
    // A 429 means the vendor did nothing, so even a start may be sent again after waiting.
    this.rateLimitRetryPolicy = retry(
      handleWhen((error) => error instanceof VendorHttpError && error.status === 429 && !waitsTooLong(error)),
      { maxAttempts: options.maxRetries, backoff: backoff() },
    );
  }

  /** Sends one request; answers the parsed body of a 2xx, else throws a `ProviderError`. */
  async request<T = unknown>(request: VendorRequest): Promise<VendorResponse<T>> {
    try {
      return await this.requestRaw<T>(request);
    } catch (error) {
      throw this.toProviderError(error);
    }
  }

  /**
   * Like `request`, but a vendor's error answer stays a `VendorHttpError` so the provider can
   * decide (404 → unknown stream, 401 → re-mint the token); other failures are `ProviderError`s.
   */
  async requestRaw<T = unknown>(request: VendorRequest): Promise<VendorResponse<T>> {
    const once = () =>
      this.breaker.execute(() => this.attemptTimeout.execute(({ signal }) => this.send<T>(request, signal)));
    try {
      const policy = request.idempotent ? this.retryPolicy : this.rateLimitRetryPolicy;
      return await policy.execute(once);
    } catch (error) {
      if (error instanceof VendorHttpError) throw error;
      throw this.toProviderError(error);
    }
  }

  toProviderError(error: unknown): ProviderError {
    const provider = this.options.provider;
    if (error instanceof ProviderError) return error;
    if (error instanceof BrokenCircuitError) {
      return new ProviderError(
        'PROVIDER_UNAVAILABLE',
        provider,
        `${provider} is failing; calls are paused for a moment`,
      );
    }
    if (error instanceof TaskCancelledError) {
      return new ProviderError('PROVIDER_UNAVAILABLE', provider, `${provider} did not answer in time`);
    }
    if (error instanceof VendorHttpError) {
      if (error.status === 429) {
        return new ProviderError(
          'RATE_LIMITED',
          provider,
          `${provider} is rate limiting requests`,
          429,
          error.retryAfterMs,
        );
      }
      if (error.status >= 400 && error.status < 500) {
        return new ProviderError(
          'PROVIDER_REJECTED',
          provider,
          `${provider} refused the request (HTTP ${error.status}): ${error.vendorMessage ?? 'no message'}`,
          error.status,
        );
      }
      return new ProviderError(
        'PROVIDER_UNAVAILABLE',
        provider,
        error.status === 0
          ? `${provider} could not be reached`
          : `${provider} failed (HTTP ${error.status})${error.vendorMessage ? `: ${error.vendorMessage}` : ''}`,
        error.status || null,
      );
    }
    return new ProviderError('PROVIDER_UNAVAILABLE', provider, `${provider} call failed`);
  }

  private async send<T>(request: VendorRequest, signal: AbortSignal): Promise<VendorResponse<T>> {
    const url = new URL(this.options.baseUrl + request.path);
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...(await this.options.auth()),
      ...request.headers,
    };
    if (request.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(url, {
        method: request.method,
        headers,
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        signal,
      });
    } catch (error) {
      if (signal.aborted) throw error;
      throw new VendorHttpError(`${this.options.provider} could not be reached`, 0, undefined);
    }
    const text = await response.text();
    let body: unknown = text;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        if (response.ok) {
          // A 2xx we can not read: the vendor may have acted, so it is ambiguous like a 5xx.
          throw new VendorHttpError(`${this.options.provider} answered a malformed body`, 502, 'malformed body');
        }
      }
    }
    if (!response.ok) {
      throw new VendorHttpError(
        `${this.options.provider} answered HTTP ${response.status}`,
        response.status,
        this.options.errorMessage?.(body) ?? (typeof body === 'string' && body.length < 300 ? body : undefined),
        response.status === 429 ? parseRetryAfter(response.headers.get('retry-after')) : null,
      );
    }
    return { status: response.status, body: body as T, headers: response.headers };
  }
}
