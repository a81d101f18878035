import { type ExecutionResult, GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { Logger } from 'pino';
import { decodeChangeCursor } from '../domain/cursor.js';
import { eventIdOf } from '../event-ids.js';
import type { CallbackRegistration } from '../store/types.js';
import { type CallbackMessage, MIN_HEARTBEAT_INTERVAL_MS } from './protocol.js';
import type { CallbackAnswer, CallbackSender } from './sender.js';

/** Events one callback subscription may hold while its router is slow; past this it resumes from the log. */
export const MAX_QUEUED_EVENTS = 1000;
/**
 * Heartbeats in a row that may go unanswered (network, timeout, 5xx: a busy router or a busy
 * replica) before the subscription is given up, as Apollo Server's emitter does; a refusal (4xx)
 * ends it at once.
 */
const MAX_HEARTBEAT_FAILURES = 5;

/** What running a registration's operation gives: its results, or the errors that refused it. */
export type SubscribeResult = AsyncIterableIterator<ExecutionResult> | ExecutionResult;

/**
 * Runs a registration's operation as its caller, resuming after `registration.position` when set;
 * what it queues is counted in `backlog`.
 */
export type SubscribeOperation = (
  registration: CallbackRegistration,
  backlog: { queued(delta: number): void },
) => Promise<SubscribeResult>;

/** What an emission needs from the replica running it. */
export interface EmissionHost {
  readonly sender: CallbackSender;
  readonly logger: Logger;
  readonly subscribe: SubscribeOperation;
  /** A change was delivered: its position is the registration's new resume point. */
  delivered(id: string, position: number): void;
  /** The subscription is over for good: its registration goes. */
  ended(id: string): void;
}

export function isResults(result: SubscribeResult): result is AsyncIterableIterator<ExecutionResult> {
  return Symbol.asyncIterator in result;
}

/** An error as the router (and its client) sees it: a code we gave keeps its message, others are masked. */
export function formatError(error: unknown): GraphQLFormattedError {
  const code = error instanceof GraphQLError ? error.extensions?.code : undefined;
  if (error instanceof GraphQLError && typeof code === 'string' && code !== 'INTERNAL_SERVER_ERROR') {
    return { message: error.message, extensions: { code } };
  }
  return { message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
}

/**
 * One callback subscription emitted by this replica: each result as a `next` (one at a time, in
 * order), a `check` every heartbeat interval, `complete` when the operation ends (with its errors
 * when it ended on one, or when the caller's token expires). A 404 from the callback URL ends it
 * without `complete`; so does any other refusal or a router unreachable past the retries.
 * `stop` only stops emitting here (shutdown, lease lost): the registration stays for whoever
 * takes it over.
 */
export class CallbackEmission {
  private results: AsyncIterableIterator<ExecutionResult> | null = null;
  private queuedEvents = 0;
  private overflowed = false;
  private finished = false;
  private position: number | null;
  private heartbeat: NodeJS.Timeout | null = null;
  private heartbeatPeriod = 0;
  private expiry: NodeJS.Timeout | null = null;
  private heartbeatFailures = 0;
  /** Aborted by `stop`: cancels the sends in flight. */
  private readonly cancel = new AbortController();

  constructor(
    readonly registration: CallbackRegistration,
    private readonly host: EmissionHost,
  ) {
    this.position = registration.position;
  }

  get id(): string {
    return this.registration.id;
  }

  /** Backlog of the subscription's queue: a router that falls behind makes it resume from the log. */
  queued(delta: number): void {
    this.queuedEvents += delta;
    if (this.queuedEvents > MAX_QUEUED_EVENTS) this.overflowed = true;
  }

  /** Starts emitting `results` (of `host.subscribe`), with heartbeats and the caller's expiry. */
  start(results: AsyncIterableIterator<ExecutionResult>): void {
    this.results = results;
    const { heartbeatIntervalMs } = this.registration;
    if (heartbeatIntervalMs > 0) {
      // A little early, so a router timing out at exactly the interval never misses one.
      this.heartbeatPeriod = Math.max(
        heartbeatIntervalMs - Math.min(1000, heartbeatIntervalMs / 5),
        MIN_HEARTBEAT_INTERVAL_MS / 2,
      );
      this.scheduleBeat();
    }
    const expiresAt = this.registration.caller.expiresAt;
    if (expiresAt !== null) {
      this.expiry = setTimeout(
        () => void this.complete([{ message: 'Token expired', extensions: { code: 'UNAUTHENTICATED' } }]),
        Math.min(Math.max(expiresAt - Date.now(), 0), 2 ** 31 - 1),
      );
      this.expiry.unref();
    }
    void this.run();
  }

  /**
   * Stops emitting here, leaving the registration to be taken over. A `next` still being sent or
   * retried is cancelled: a retry landing after the replica taking over has sent later changes
   * would reach the router out of order.
   */
  stop(): void {
    this.cancel.abort();
    this.close();
  }

  /** Sends `complete` (with `errors`) and ends the subscription. */
  async complete(errors?: GraphQLFormattedError[]): Promise<void> {
    if (this.finished) return;
    this.close();
    const message: CallbackMessage = { ...this.envelope(), action: 'complete', ...(errors?.length ? { errors } : {}) };
    const answer = await this.host.sender.send(this.registration.callbackUrl, message);
    if (answer.status < 200 || answer.status >= 300) {
      this.host.logger.warn({ subscription: this.id, status: answer.status }, 'callback complete not accepted');
    }
    this.host.ended(this.id);
  }

  private async run(): Promise<void> {
    try {
      while (!this.finished && this.results) {
        const item = await this.results.next();
        if (this.finished) return;
        if (item.done) return await this.complete();
        const answer = await this.host.sender.send(
          this.registration.callbackUrl,
          {
            ...this.envelope(),
            action: 'next',
            payload: item.value,
          },
          this.cancel.signal,
        );
        if (this.finished) return;
        if (!this.accepted(answer, 'next')) return;
        const cursor = eventIdOf(item.value);
        if (cursor !== undefined) {
          this.position = decodeChangeCursor(cursor);
          this.host.delivered(this.id, this.position);
        }
        if (this.overflowed) await this.resume();
      }
    } catch (error) {
      if (!this.finished) await this.complete([formatError(error)]);
    }
  }

  /** The router fell behind: drop what is queued and read it again from the log, after the last delivered. */
  private async resume(): Promise<void> {
    void this.results?.return?.();
    this.results = null;
    this.queuedEvents = 0;
    this.overflowed = false;
    if (this.position === null) {
      await this.complete([{ message: 'Callback receiver too slow', extensions: { code: 'SLOW_CONSUMER' } }]);
      return;
    }
    const result = await this.host.subscribe({ ...this.registration, position: this.position }, this);
    if (this.finished) {
      if (isResults(result)) void result.return?.();
      return;
    }
    if (!isResults(result)) return await this.complete((result.errors ?? []).map(formatError));
    this.results = result;
  }

  /**
   * The next `check` one period after the last one was answered, not on a fixed beat: a check that
   * waited for a free connection (behind the `next`s holding the router's connections, or a
   * sender short of CPU) would otherwise be followed by the next beat at once, two checks of
   * one subscription less than a period apart, and the queue's backlog arrived on top of the
   * beats on time (bench/README.md, "Callback delivery, 2026-12-06, morning session").
   */
  private scheduleBeat(): void {
    if (this.finished) return;
    if (this.heartbeat) {
      // The same timer again (`refresh` re-arms one that fired): no new one per beat.
      this.heartbeat.refresh();
      return;
    }
    this.heartbeat = setTimeout(() => void this.beat(), this.heartbeatPeriod);
    this.heartbeat.unref();
  }

  private async beat(): Promise<void> {
    if (this.finished) return;
    const answer = await this.host.sender.send(this.registration.callbackUrl, {
      ...this.envelope(),
      action: 'check',
    });
    if (this.finished) return;
    const unanswered = answer.status === 0 || answer.status >= 500;
    this.heartbeatFailures = unanswered ? this.heartbeatFailures + 1 : 0;
    if (unanswered && this.heartbeatFailures < MAX_HEARTBEAT_FAILURES) return this.scheduleBeat();
    if (this.accepted(answer, 'check')) this.scheduleBeat();
  }

  /** True for a 2xx; otherwise the subscription ends here (404: the router dropped it). */
  private accepted(answer: CallbackAnswer, action: string): boolean {
    if (answer.status >= 200 && answer.status < 300) return true;
    if (answer.status !== 404) {
      this.host.logger.warn(
        { subscription: this.id, action, status: answer.status },
        'callback failed: subscription ended',
      );
    }
    this.close();
    this.host.ended(this.id);
    return false;
  }

  private envelope() {
    return { kind: 'subscription' as const, id: this.registration.id, verifier: this.registration.verifier };
  }

  private close(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.heartbeat) clearTimeout(this.heartbeat);
    if (this.expiry) clearTimeout(this.expiry);
    void this.results?.return?.();
  }
}
