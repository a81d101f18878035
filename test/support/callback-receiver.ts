import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { listen } from './gateway.js';

/** A message as the receiver got it. */
export interface ReceivedMessage {
  subscriptionId: string;
  action: string;
  headers: IncomingHttpHeaders;
  body: Record<string, any>;
  /** What the receiver answered. */
  status: number;
  at: number;
}

/**
 * The router's side of Apollo's HTTP callback protocol (`callback/1.0`), as the specification and
 * Apollo Router's callback endpoint behave: POST `<path>/<subscriptionId>` with a JSON message
 * `{ kind: "subscription", action, id, verifier, payload? , errors? }` and the header
 * `subscription-protocol: callback/1.0`. It answers `check` 204 with that header, `next` 200,
 * `complete` 202, and 404 for a subscription it does not know (or no longer wants). Every
 * departure from the protocol is recorded in `violations`.
 */
export class CallbackReceiver {
  readonly messages: ReceivedMessage[] = [];
  readonly violations: string[] = [];
  /** Subscriptions it expects, by id: their verifier. */
  private readonly active = new Map<string, string>();
  /** Overrides the answer to a `check` (the subscription request's check and heartbeats). */
  checkAnswer: { status: number; protocol?: string | null } | null = null;
  /** How long a `next` waits for its answer (a router slow to take events); 0 answers at once. */
  nextDelayMs = 0;
  private server: Server | null = null;
  port = 0;

  async start(port = 0): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const id = decodeURIComponent((req.url ?? '').replace(/^\/callback\//, ''));
        const answer = (status: number, headers: Record<string, string> = {}) => {
          res.writeHead(status, headers);
          res.end();
          return status;
        };
        let body: Record<string, any> = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          this.violations.push(`${id}: body is not JSON`);
          return answer(400);
        }
        const problems = this.check(req.method, req.headers, id, body);
        this.violations.push(...problems);
        const record = (status: number) =>
          this.messages.push({
            subscriptionId: id,
            action: body.action,
            headers: req.headers,
            body,
            status,
            at: Date.now(),
          });
        if (problems.length > 0) return record(answer(400));
        const verifier = this.active.get(id);
        if (verifier === undefined) return record(answer(404, { 'subscription-protocol': 'callback/1.0' }));
        if (body.verifier !== verifier) return record(answer(401));
        if (body.action === 'check') {
          if (this.checkAnswer) {
            const protocol = this.checkAnswer.protocol;
            return record(answer(this.checkAnswer.status, protocol ? { 'subscription-protocol': protocol } : {}));
          }
          return record(answer(204, { 'subscription-protocol': 'callback/1.0' }));
        }
        if (body.action === 'next') {
          if (this.nextDelayMs > 0) {
            setTimeout(() => record(answer(200)), this.nextDelayMs);
            return;
          }
          return record(answer(200));
        }
        this.active.delete(id);
        return record(answer(202));
      });
    });
    this.port = await listen(this.server, port);
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  url(id: string): string {
    return `http://127.0.0.1:${this.port}/callback/${id}`;
  }

  /** The router drops a subscription: its next message is answered 404. */
  drop(id: string): void {
    this.active.delete(id);
  }

  of(id: string, action?: string): ReceivedMessage[] {
    return this.messages.filter((m) => m.subscriptionId === id && (action === undefined || m.action === action));
  }

  /**
   * Sends a subscription to the subgraph as a router does, expecting its messages at this
   * receiver. Answers the subgraph's status and body, and the id the router gave it.
   */
  async subscribe(
    subgraphUrl: string,
    query: string,
    options: {
      variables?: Record<string, unknown>;
      heartbeatIntervalMs?: number;
      headers?: Record<string, string>;
      id?: string;
      extension?: Record<string, unknown>;
    } = {},
  ): Promise<{
    id: string;
    status: number;
    body: { data?: unknown; errors?: { message: string; extensions?: any }[] };
    /** When the subgraph's answer arrived. */
    answeredAt: number;
  }> {
    const id = options.id ?? randomUUID();
    const verifier = randomUUID();
    this.active.set(id, verifier);
    const response = await fetch(subgraphUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json;callbackSpec=1.0', ...options.headers },
      body: JSON.stringify({
        query,
        variables: options.variables,
        extensions: {
          subscription: options.extension ?? {
            callbackUrl: this.url(id),
            subscriptionId: id,
            verifier,
            heartbeatIntervalMs: options.heartbeatIntervalMs ?? 0,
          },
        },
      }),
    });
    const body = (await response.json()) as { data?: unknown; errors?: { message: string; extensions?: any }[] };
    const answeredAt = Date.now();
    if (body.errors) this.active.delete(id);
    return { id, status: response.status, body, answeredAt };
  }

  private check(
    method: string | undefined,
    headers: IncomingHttpHeaders,
    id: string,
    body: Record<string, any>,
  ): string[] {
    const problems: string[] = [];
    const where = `${id} ${body.action ?? '?'}`;
    if (method !== 'POST') problems.push(`${where}: method ${method}`);
    if (headers['content-type'] !== 'application/json')
      problems.push(`${where}: content-type ${headers['content-type']}`);
    if (headers['subscription-protocol'] !== 'callback/1.0') {
      problems.push(`${where}: subscription-protocol ${headers['subscription-protocol']}`);
    }
    if (body.kind !== 'subscription') problems.push(`${where}: kind ${body.kind}`);
    if (!['check', 'next', 'complete'].includes(body.action)) problems.push(`${where}: action ${body.action}`);
    if (body.id !== id) problems.push(`${where}: id ${body.id} is not the path's`);
    if (typeof body.verifier !== 'string') problems.push(`${where}: no verifier`);
    const allowed = new Set(['kind', 'action', 'id', 'verifier', 'payload', 'errors']);
    for (const key of Object.keys(body)) if (!allowed.has(key)) problems.push(`${where}: unexpected ${key}`);
    if (body.action === 'next' && (typeof body.payload !== 'object' || body.payload === null)) {
      problems.push(`${where}: next without payload`);
    }
    if (body.action !== 'next' && 'payload' in body) problems.push(`${where}: payload on ${body.action}`);
    if (body.action !== 'complete' && 'errors' in body) problems.push(`${where}: errors on ${body.action}`);
    if ('errors' in body && (!Array.isArray(body.errors) || body.errors.length === 0)) {
      problems.push(`${where}: errors must be a non-empty list`);
    }
    return problems;
  }
}
