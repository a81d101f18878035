// The graphql-transport-ws protocol on one connection, as graphql-ws' `makeServer` speaks it (same
// messages, same close codes, same order of hooks), shaped for tens of thousands of idle
// subscriptions: see src/fanout/index.ts. `makeServer` keeps, per subscription, a suspended async
// function (its `for await` loop: a generator, its registers, the `emit` object and three
// closures, the pending promises) and a timer per socket for its life; it stringifies every `next`
// message for every subscriber. Here a subscription is one `Operation` object pulling its event
// stream, and a result shared by a group of subscribers (subscription-execution.ts) is turned into
// its frame text once. Heap snapshots and figures: bench/README.md, "Fan-out" (issue 17).
import { type ExecutionArgs, type ExecutionResult, GraphQLError, getOperationAST } from 'graphql';
import {
  CloseCode,
  type ConnectionInitMessage,
  GRAPHQL_TRANSPORT_WS_PROTOCOL,
  MessageType,
  parseMessage,
  type SubscribePayload,
  stringifyMessage,
} from 'graphql-ws';
import { hiddenSlot } from '../hidden.js';
import type { ReadyIterator } from './queue.js';
import { frameOfTextResult } from './result-text.js';

type Payload = ConnectionInitMessage['payload'];

/** What one connection is to the hooks (graphql-ws' `Context`, with the same field names). */
export interface ConnectionContext<E> {
  readonly connectionInitReceived: boolean;
  readonly acknowledged: boolean;
  readonly connectionParams: Readonly<Payload> | undefined;
  /** The connection's operations by id (one being set up counts already). */
  readonly subscriptions: ReadonlyMap<string, unknown>;
  readonly extra: E;
}

/** The hooks graphql-ws' `ServerOptions` has and this service uses, with the same contracts. */
export interface ProtocolHooks<E> {
  /** ms to wait for `connection_init` before closing 4408 (0: no limit). */
  connectionInitWaitTimeout: number;
  /** `false` refuses the connection (4403); an object is the `connection_ack` payload. */
  onConnect(ctx: ConnectionContext<E>): Promise<boolean | Payload | undefined> | boolean | Payload | undefined;
  /** The execution arguments of an operation, or the errors that answer it. */
  onSubscribe(
    ctx: ConnectionContext<E>,
    id: string,
    payload: SubscribePayload,
  ): Promise<ExecutionArgs | readonly GraphQLError[]> | ExecutionArgs | readonly GraphQLError[];
  execute(args: ExecutionArgs): unknown;
  subscribe(args: ExecutionArgs): unknown;
}

/** A `next` message's payload: graphql-ws' `{ ...result, errors: errors.map(toJSON) }`. */
function payloadText(result: ExecutionResult): string {
  if (result.errors === undefined) return JSON.stringify(result);
  const { errors, ...rest } = result;
  return JSON.stringify(errors ? { ...rest, errors: errors.map((e) => e.toJSON()) } : rest);
}

/** A `next` frame: graphql-ws' `stringifyMessage({ id, type: 'next', payload })`. */
function nextFrame(id: string, payload: string): string {
  return `${nextFramePrefix(id)}${payload}}`;
}
function nextFramePrefix(id: string): string {
  return `{"id":${JSON.stringify(id)},"type":"next","payload":`;
}

/** A result's frame text, made once for every subscriber sending it (one made as text keeps its
 * own, result-text.ts): with the result (hidden.ts), not in a WeakMap: gone at the next minor GC. */
const frames = hiddenSlot<{ payload: string; prefix: string; frame: string }>();

/** An event's `next` frame, shared by every subscriber of the same result and `nextFramePrefix`. */
function sharedNextFrame(prefix: string, result: ExecutionResult): string {
  const framed = frameOfTextResult(result, prefix);
  if (framed !== undefined) return framed;
  let known = frames.get(result);
  if (!known) {
    const payload = payloadText(result);
    known = { payload, prefix, frame: `${prefix}${payload}}` };
    frames.set(result, known);
  } else if (known.prefix !== prefix) {
    known.prefix = prefix;
    known.frame = `${prefix}${known.payload}}`;
  }
  return known.frame;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/** graphql-ws returns (ends) only async generators; ours and envelop's iterators have `return` and `throw`. */
function isAsyncGenerator(value: unknown): value is AsyncGenerator<unknown> {
  return (
    isAsyncIterable(value) &&
    typeof (value as AsyncGenerator).return === 'function' &&
    typeof (value as AsyncGenerator).throw === 'function'
  );
}

function areGraphQLErrors(value: unknown): value is readonly GraphQLError[] {
  return Array.isArray(value) && value.length > 0 && value.every((e) => e instanceof GraphQLError);
}

/**
 * One connection's protocol state; the socket side (sending, closing, the bounds) is the
 * subclass's (graphql-ws.ts). It is also the hooks' `ctx`.
 */
export abstract class Connection<E> implements ConnectionContext<E> {
  connectionInitReceived = false;
  acknowledged = false;
  connectionParams: Readonly<Payload> | undefined = undefined;
  readonly subscriptions = new Map<string, Operation<E> | null>();
  private initTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly hooks: ProtocolHooks<E>,
    readonly extra: E,
  ) {}

  /**
   * Starts the protocol on a socket that agreed on `protocol`; answers whether it speaks
   * graphql-transport-ws (if not, the socket is closed 4406 and its messages are to be ignored).
   */
  open(protocol: string): boolean {
    if (protocol !== GRAPHQL_TRANSPORT_WS_PROTOCOL) {
      this.close(CloseCode.SubprotocolNotAcceptable, 'Subprotocol not acceptable');
      return false;
    }
    const wait = this.hooks.connectionInitWaitTimeout;
    if (wait > 0 && Number.isFinite(wait)) this.initTimer = setTimeout(initTimedOut, wait, this);
    return true;
  }

  /** Sends a control message; resolves once it is flushed. */
  abstract send(data: string): Promise<void>;
  /**
   * Sends an operation's frame. Answers true when the socket has room for more at once (the
   * operation pulls its next result now); false when `operation.sent` is to be called once this
   * frame is flushed (or failed), or when nothing was sent (the socket is closing).
   */
  abstract sendFrame(data: string, operation: Operation<E>): boolean;
  abstract close(code: number, reason: string): void;
  /**
   * Whether anything sent now would go out: false once the socket is closing or was refused for a
   * bound. An operation checks it before it executes and before it serialises a result, so a
   * client that sent many large queries and stopped reading makes the server build none of the
   * answers it would drop (test/security/websocket-memory.test.ts).
   */
  protected abstract canSend(): boolean;
  /** `connection_init` arrived. */
  protected abstract initialised(): void;

  /** Handles one message of the client (graphql-ws' `onMessage`). */
  async handle(data: string): Promise<void> {
    let message: ReturnType<typeof parseMessage>;
    try {
      message = parseMessage(data, internQuery);
    } catch {
      return this.close(CloseCode.BadRequest, 'Invalid message received');
    }
    switch (message.type) {
      case MessageType.ConnectionInit: {
        if (this.connectionInitReceived) {
          return this.close(CloseCode.TooManyInitialisationRequests, 'Too many initialisation requests');
        }
        this.connectionInitReceived = true;
        this.clearInitTimer();
        this.initialised();
        if (isObject(message.payload)) this.connectionParams = message.payload;
        const permitted = await this.hooks.onConnect(this);
        if (permitted === false) return this.close(CloseCode.Forbidden, 'Forbidden');
        this.acknowledged = true;
        await this.send(
          stringifyMessage(
            isObject(permitted)
              ? { type: MessageType.ConnectionAck, payload: permitted }
              : { type: MessageType.ConnectionAck },
          ),
        );
        return;
      }
      case MessageType.Ping:
        return this.onPing(message.payload);
      case MessageType.Pong:
        return;
      case MessageType.Subscribe: {
        if (!this.acknowledged) return this.close(CloseCode.Unauthorized, 'Unauthorized');
        const { id, payload } = message;
        if (this.subscriptions.has(id))
          return this.close(CloseCode.SubscriberAlreadyExists, `Subscriber for ${id} already exists`);
        this.subscriptions.set(id, null);
        return this.start(id, payload);
      }
      case MessageType.Complete: {
        const operation = this.subscriptions.get(message.id);
        this.subscriptions.delete(message.id);
        await operation?.stop();
        return;
      }
      default:
        throw new Error(`Unexpected message of type ${message.type} received`);
    }
  }

  /** Answers a `ping` (a subclass may refuse to before the acknowledgement). */
  protected onPing(payload: unknown): Promise<void> {
    return this.send(
      stringifyMessage(payload ? { type: MessageType.Pong, payload: payload as Payload } : { type: MessageType.Pong }),
    );
  }

  private async start(id: string, payload: SubscribePayload): Promise<void> {
    let setUp = false;
    try {
      const argsOrErrors = await this.hooks.onSubscribe(this, id, payload);
      if (!this.subscriptions.has(id) || !this.canSend()) return;
      if (areGraphQLErrors(argsOrErrors)) return this.sendErrors(id, argsOrErrors);
      if (Array.isArray(argsOrErrors)) {
        throw new Error('Invalid return value from onSubscribe hook, expected an array of GraphQLError objects');
      }
      const args = argsOrErrors as ExecutionArgs;
      const operationAST = getOperationAST(args.document, args.operationName);
      if (!operationAST) return this.sendErrors(id, [new GraphQLError('Unable to identify operation')]);
      const result =
        operationAST.operation === 'subscription' ? await this.hooks.subscribe(args) : await this.hooks.execute(args);
      if (isAsyncIterable(result)) {
        const iterator = result[Symbol.asyncIterator]() as AsyncIterator<ExecutionResult>;
        if (!this.subscriptions.has(id)) {
          // Completed (or the connection closed) while it was being set up.
          if (isAsyncGenerator(result)) void iterator.return?.();
          return;
        }
        const operation = new Operation(this, id, iterator);
        this.subscriptions.set(id, operation);
        setUp = true;
        operation.pull();
        return;
      }
      if (!this.subscriptions.has(id) || !this.canSend()) return;
      await this.send(nextFrame(id, payloadText(result as ExecutionResult)));
      await this.complete(id);
    } finally {
      if (!setUp) this.subscriptions.delete(id);
    }
  }

  private sendErrors(id: string, errors: readonly GraphQLError[]): Promise<void> | undefined {
    if (!this.subscriptions.has(id)) return;
    return this.send(stringifyMessage({ id, type: MessageType.Error, payload: errors.map((e) => e.toJSON()) }));
  }

  /** Tells the client an operation is complete, if it still is one (then forgets it). */
  private complete(id: string): Promise<void> {
    const known = this.subscriptions.has(id);
    this.subscriptions.delete(id);
    return known ? this.send(stringifyMessage({ id, type: MessageType.Complete })) : Promise.resolve();
  }

  /** `operation`'s event stream ended: `complete`, unless the client completed it first. */
  ended(id: string, operation: Operation<E>): void {
    if (this.subscriptions.get(id) === operation) void this.complete(id);
  }

  /** `operation`'s event stream failed: the client gets an `error` message for it. */
  failed(id: string, operation: Operation<E>, error: unknown): void {
    if (this.subscriptions.get(id) !== operation) return;
    const original = error instanceof Error ? error : new Error(String(error));
    void this.sendErrors(id, [new GraphQLError(original.message, { originalError: original })]);
    this.subscriptions.delete(id);
  }

  /** The socket closed: every operation ends (graphql-ws' `closed`). */
  closed(): Promise<unknown> {
    this.clearInitTimer();
    const operations = [...this.subscriptions.values()];
    this.subscriptions.clear();
    return Promise.all(operations.map((operation) => operation?.stop()));
  }

  private clearInitTimer(): void {
    if (this.initTimer) clearTimeout(this.initTimer);
    this.initTimer = null;
  }
}

function initTimedOut(connection: Connection<unknown>): void {
  if (!connection.connectionInitReceived) {
    connection.close(CloseCode.ConnectionInitialisationTimeout, 'Connection initialisation timeout');
  }
}

/**
 * One operation's event stream, pulled one result at a time: the next is pulled as soon as a frame
 * is handed to a socket with room for more (a replay's burst then goes out together, see
 * graphql-ws.ts), else once the socket has flushed it, so what a slow client has not taken waits
 * in its queue, where it counts in the connection's slow-consumer bound (queue.ts, graphql-ws.ts).
 */
export class Operation<E> {
  private stopped = false;

  constructor(
    private readonly connection: Connection<E>,
    private readonly id: string,
    private readonly iterator: AsyncIterator<ExecutionResult>,
  ) {}

  pull(): void {
    let next: IteratorResult<ExecutionResult> | Promise<IteratorResult<ExecutionResult>>;
    try {
      next = (this.iterator as Partial<ReadyIterator<ExecutionResult>>).takeReady?.() ?? this.iterator.next();
    } catch (error) {
      this.fail(error);
      return;
    }
    if (next instanceof Promise) {
      next.then(
        (result) => this.deliver(result),
        (error: unknown) => this.fail(error),
      );
    } else this.deliver(next);
  }

  private deliver(first: IteratorResult<ExecutionResult>): void {
    const connection = this.connection;
    const ready = (this.iterator as Partial<ReadyIterator<ExecutionResult>>).takeReady;
    // Once per burst, not per frame; not kept (an idle subscription holds nothing more).
    const prefix = nextFramePrefix(this.id);
    let result = first;
    // The results already held go out in one go while the socket has room (a replay's page).
    for (;;) {
      if (result.done) {
        connection.ended(this.id, this);
        return;
      }
      if (this.stopped || !connection.sendFrame(sharedNextFrame(prefix, result.value), this)) return;
      let next: IteratorResult<ExecutionResult> | Promise<IteratorResult<ExecutionResult>> | undefined;
      try {
        next = ready?.call(this.iterator);
      } catch (error) {
        this.fail(error);
        return;
      }
      if (next === undefined) break;
      if (next instanceof Promise) {
        next.then(
          (value) => this.deliver(value),
          (error: unknown) => this.fail(error),
        );
        return;
      }
      result = next;
    }
    this.pull();
  }

  /** The last frame is flushed (or failed to be): the next result. */
  sent(error?: Error): void {
    if (error) this.fail(error);
    else if (!this.stopped) this.pull();
  }

  private fail(error: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.connection.failed(this.id, this, error);
  }

  /** The client completed it or the socket closed: the event stream is returned. */
  stop(): Promise<unknown> | undefined {
    this.stopped = true;
    return this.iterator.return?.();
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * Strings many sockets send alike (a subscribe frame, its query text), shared: each socket would
 * otherwise keep its own copy for its subscription's life. Bounded; short strings only.
 */
const interned = new Map<string, string>();
const MAX_INTERNED = 4096;
const MAX_INTERNED_LENGTH = 4096;

export function intern(text: string): string {
  if (text.length > MAX_INTERNED_LENGTH) return text;
  const known = interned.get(text);
  if (known !== undefined) return known;
  if (interned.size >= MAX_INTERNED) interned.clear();
  interned.set(text, text);
  return text;
}

/** `JSON.parse` reviver for graphql-ws messages: a subscription's query text is shared. */
function internQuery(this: unknown, key: string, value: unknown): unknown {
  return key === 'query' && typeof value === 'string' ? intern(value) : value;
}
