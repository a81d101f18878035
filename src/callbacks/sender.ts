import { setMaxListeners } from 'node:events';
import {
  bulkhead,
  ExponentialBackoff,
  handleWhen,
  type IPolicy,
  retry,
  TaskCancelledError,
  TimeoutStrategy,
  timeout,
  wrap,
} from 'cockatiel';
import { Agent } from 'undici';
import { type CallbackMessage, PROTOCOL_HEADER, PROTOCOL_VERSION } from './protocol.js';

/** What the callback URL answered: its status and protocol header; status 0 when nothing came back. */
export interface CallbackAnswer {
  status: number;
  protocol: string | undefined;
}

export interface SenderOptions {
  /** Per attempt (CALLBACK_TIMEOUT_MS): connecting, sending and the answer's headers. */
  timeoutMs: number;
  /** Attempts after the first one for a network failure, a timeout or a 5xx (CALLBACK_MAX_RETRIES). */
  maxRetries: number;
}

/** Requests to one router at once: more wait for a free connection rather than open one each. */
const MAX_SOCKETS_PER_ROUTER = 64;
/**
 * Of those, the most that `next`s and `complete`s may hold: a `check` waits behind at most these
 * (the ones already given a connection), never behind a change's `next`s to every subscription of
 * the router (4–8 s at 10,000 here). Hive Router ends a subscription whose check is more than its
 * heartbeat interval + 1 s apart from the last, and a `next` does not count as one
 * (bench/README.md, "Callback delivery, 2026-12-06, morning session", "Checks in a lane of their own").
 */
const MAX_EVENTS_PER_ROUTER = 56;
/** Routers whose in-flight limit is kept (one per callback origin; more origins start over). */
const MAX_ROUTERS = 1000;
/** Most bytes of an answer read (and dropped): the router's answers carry nothing we need. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** A failure worth another attempt: the network, a timeout, or a 5xx. */
class TransientFailure extends Error {
  constructor(readonly answer: CallbackAnswer) {
    super(`callback answered ${answer.status}`);
  }
}

/**
 * Sends protocol messages to callback URLs: a POST of JSON with `subscription-protocol:
 * callback/1.0`, through keep-alive connections (bounded per router), a timeout per attempt and a
 * bounded number of retries (cockatiel) for network failures and 5xx. Redirects are never followed
 * (undici's `request` does not without its redirect interceptor): a 3xx is the answer. Never throws.
 *
 * undici rather than node:http: the same 10,000 POSTs cost its client about half the CPU
 * (41–46 against 77–91 µs each) and the receiving server less too (bench/README.md, "Callback
 * delivery, 2026-12-06, morning session").
 */
export class CallbackSender {
  /** One pool of keep-alive connections per origin (undici's Agent), at most MAX_SOCKETS_PER_ROUTER each. */
  private readonly agent = new Agent({ connections: MAX_SOCKETS_PER_ROUTER });
  private readonly policy: IPolicy;
  /**
   * Per router (callback origin): at most MAX_SOCKETS_PER_ROUTER messages in flight, the rest wait
   * their turn before their attempt's timeout starts. A change to 10,000 subscriptions queues
   * 10,000 messages at once; timing them from the queue would fail the last ones. Two turns into
   * the same bulkhead: a `check` goes straight to it; a `next` or `complete` first takes one of
   * MAX_EVENTS_PER_ROUTER places (cockatiel bulkheads, one inside the other), so the change's queue
   * waits in front of the router's, and checks may still use every connection the events leave.
   */
  private readonly inFlight = new Map<string, { check: IPolicy; events: IPolicy }>();
  /**
   * The signal of a send without `cancel`: never aborted, one of ours rather than one per send (an
   * AbortController each) or cockatiel's shared default. cockatiel listens on it for each attempt
   * in flight (at most MAX_SOCKETS_PER_ROUTER per router), which is no leak: the warning is off.
   */
  private readonly uncancelled = new AbortController().signal;

  constructor(options: SenderOptions) {
    setMaxListeners(0, this.uncancelled);
    this.policy = wrap(
      retry(
        handleWhen((error) => error instanceof TransientFailure || error instanceof TaskCancelledError),
        { maxAttempts: options.maxRetries, backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }) },
      ),
      // Not aborted once answered (`abortOnReturn`): the request is over by then, and each abort
      // made a DOMException, 22 µs of a message's CPU (bench/README.md, "Callback delivery,
      // 2026-12-06, morning session").
      timeout(options.timeoutMs, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false }),
    );
  }

  /** Sends one message; `cancel` stops its attempts and retries (answered as a network failure). */
  async send(url: string, message: CallbackMessage, cancel?: AbortSignal): Promise<CallbackAnswer> {
    const body = JSON.stringify(message);
    // `cancel` itself, not a signal derived per send (AbortSignal.any, 6–8 µs a message): cockatiel
    // hangs a listener on it only while an attempt runs, and an emission sends one message at a time.
    const signal = cancel ?? this.uncancelled;
    try {
      const target = new URL(url);
      const turns = this.turns(target.origin);
      const turn = message.action === 'check' ? turns.check : turns.events;
      return await turn.execute(() => this.attempt(target, body, signal), signal);
    } catch {
      return { status: 0, protocol: undefined };
    }
  }

  private turns(origin: string): { check: IPolicy; events: IPolicy } {
    let turns = this.inFlight.get(origin);
    if (!turns) {
      if (this.inFlight.size >= MAX_ROUTERS) this.inFlight.clear();
      const router = bulkhead(MAX_SOCKETS_PER_ROUTER, Number.POSITIVE_INFINITY);
      turns = { check: router, events: wrap(bulkhead(MAX_EVENTS_PER_ROUTER, Number.POSITIVE_INFINITY), router) };
      this.inFlight.set(origin, turns);
    }
    return turns;
  }

  /** One message with its retries and per-attempt timeouts. */
  private async attempt(target: URL, body: string, cancel: AbortSignal): Promise<CallbackAnswer> {
    try {
      return await this.policy.execute(async ({ signal }) => {
        const answer = await this.post(target, body, signal);
        if (answer.status === 0 || answer.status >= 500) throw new TransientFailure(answer);
        return answer;
      }, cancel);
    } catch (error) {
      if (error instanceof TransientFailure) return error.answer;
      return { status: 0, protocol: undefined };
    }
  }

  close(): void {
    void this.agent.destroy().catch(() => undefined);
  }

  private async post(target: URL, body: string, signal: AbortSignal): Promise<CallbackAnswer> {
    let answer: CallbackAnswer;
    try {
      const response = await this.agent.request({
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        method: 'POST',
        signal,
        headers: { 'content-type': 'application/json', [PROTOCOL_HEADER]: PROTOCOL_VERSION },
        body,
      });
      const protocol = response.headers[PROTOCOL_HEADER];
      answer = { status: response.statusCode, protocol: Array.isArray(protocol) ? protocol[0] : protocol };
      // The router's answers carry nothing we need: read (to reuse the connection) up to a bound.
      await response.body.dump({ limit: MAX_ANSWER_BYTES }).catch(() => undefined);
    } catch {
      return { status: 0, protocol: undefined };
    }
    return answer;
  }
}
