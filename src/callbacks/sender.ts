import http from 'node:http';
import https from 'node:https';
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
 * (node:http does not): a 3xx is the answer. Never throws.
 */
export class CallbackSender {
  private readonly agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS_PER_ROUTER }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS_PER_ROUTER }),
  };
  private readonly policy: IPolicy;
  /**
   * Per router (callback origin): at most MAX_SOCKETS_PER_ROUTER messages in flight, the rest wait
   * their turn before their attempt's timeout starts. A change to 10,000 subscriptions queues
   * 10,000 messages at once; timing them from the queue would fail the last ones.
   */
  private readonly inFlight = new Map<string, IPolicy>();

  constructor(options: SenderOptions) {
    this.policy = wrap(
      retry(
        handleWhen((error) => error instanceof TransientFailure || error instanceof TaskCancelledError),
        { maxAttempts: options.maxRetries, backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }) },
      ),
      timeout(options.timeoutMs, TimeoutStrategy.Aggressive),
    );
  }

  /** Sends one message; `cancel` stops its attempts and retries (answered as a network failure). */
  async send(url: string, message: CallbackMessage, cancel?: AbortSignal): Promise<CallbackAnswer> {
    const body = JSON.stringify(message);
    // A signal of its own per send (cockatiel hangs a listener on it), following `cancel` if given.
    const signal = cancel ? AbortSignal.any([cancel]) : new AbortController().signal;
    try {
      return await this.turn(url).execute(() => this.attempt(url, body, signal), signal);
    } catch {
      return { status: 0, protocol: undefined };
    }
  }

  private turn(url: string): IPolicy {
    const origin = new URL(url).origin;
    let policy = this.inFlight.get(origin);
    if (!policy) {
      if (this.inFlight.size >= MAX_ROUTERS) this.inFlight.clear();
      policy = bulkhead(MAX_SOCKETS_PER_ROUTER, Number.POSITIVE_INFINITY);
      this.inFlight.set(origin, policy);
    }
    return policy;
  }

  /** One message with its retries and per-attempt timeouts. */
  private async attempt(url: string, body: string, cancel: AbortSignal): Promise<CallbackAnswer> {
    try {
      return await this.policy.execute(async ({ signal }) => {
        const answer = await this.post(url, body, signal);
        if (answer.status === 0 || answer.status >= 500) throw new TransientFailure(answer);
        return answer;
      }, cancel);
    } catch (error) {
      if (error instanceof TransientFailure) return error.answer;
      return { status: 0, protocol: undefined };
    }
  }

  close(): void {
    for (const agent of Object.values(this.agents)) agent.destroy();
  }

  private post(url: string, body: string, signal: AbortSignal): Promise<CallbackAnswer> {
    return new Promise((resolve) => {
      const target = new URL(url);
      const client = target.protocol === 'https:' ? https : http;
      const request = client.request(
        target,
        {
          method: 'POST',
          agent: this.agents[target.protocol as 'http:' | 'https:'],
          signal,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            [PROTOCOL_HEADER]: PROTOCOL_VERSION,
          },
        },
        (response) => {
          const protocol = response.headers[PROTOCOL_HEADER];
          const answer = {
            status: response.statusCode ?? 0,
            protocol: Array.isArray(protocol) ? protocol[0] : protocol,
          };
          let read = 0;
          response.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read > MAX_ANSWER_BYTES) response.destroy();
          });
          response.on('end', () => resolve(answer));
          response.on('close', () => resolve(answer));
          response.on('error', () => resolve(answer));
        },
      );
      request.on('error', () => resolve({ status: 0, protocol: undefined }));
      request.end(body);
    });
  }
}
