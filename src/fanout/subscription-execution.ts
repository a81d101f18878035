import { RequestCache } from '@pothos/plugin-scope-auth';
import {
  createSourceEventStream,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  execute,
  GraphQLError,
  getOperationAST,
  type OperationDefinitionNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { tagEventId } from '../event-ids.js';
import {
  observeDelivery,
  type SubscriptionTransport,
  subscriptionClosed,
  subscriptionOpened,
} from '../observability/metrics.js';
import { ChangeQueue, type QueueMapper } from './queue.js';

type Result = ExecutionResult | Promise<ExecutionResult>;

/** What this module reads of a GraphQL context: the caller's roles (see `groupKey`). */
interface CallerContext {
  caller?: { authenticated: boolean; roles: ReadonlySet<string> };
}

/**
 * Runs each subscription event's selection set once per group of identical subscriptions rather
 * than once per subscriber. Thousands of clients subscribe with the same document, variables and
 * roles; a change is published as one object, so the first subscriber to pull it executes and
 * the others reuse that result (what is sent to each is then only its own `next` frame).
 *
 * Sharing is sound because a field's value depends on the event, the operation and the caller's
 * roles (`authScopes` are role-based), nothing else of the caller. Should a field ever depend on
 * who the caller is, add that to `groupKey`.
 *
 * It is an envelop plugin (`setSubscribeFn`), so every other plugin's `onSubscribe` hooks and
 * result hooks still run for each subscription, over HTTP (SSE) and WebSocket alike. Errors
 * before the event stream exists are answered by the default subscribe, word for word.
 */
export function useSharedSubscriptionExecution(): Plugin<CallerContext> {
  return {
    onSubscribe({ subscribeFn, setSubscribeFn }) {
      // One wrapper per default subscribe function (the same for every operation), not one per
      // subscription: a subscription keeps the function it was subscribed with for its life.
      let shared = sharedSubscribeFns.get(subscribeFn);
      if (!shared) {
        shared = sharedSubscribe(subscribeFn);
        sharedSubscribeFns.set(subscribeFn, shared);
      }
      setSubscribeFn(shared);
    },
  };
}

type SubscribeFn = (args: ExecutionArgs) => unknown;
const sharedSubscribeFns = new WeakMap<SubscribeFn, SubscribeFn>();

function sharedSubscribe(subscribeFn: SubscribeFn): SubscribeFn {
  return async (args: ExecutionArgs) => {
    const source = await createSourceEventStream(args);
    if (!isAsyncIterator(source)) return subscribeFn(args);
    // The root field's `authScopes` are checked: its per-context cache (Pothos scope-auth,
    // several Maps) would otherwise live as long as the subscription. Each event's execution
    // makes its own and lets it go (see `resultFor`).
    releaseScopeCache(args.contextValue);
    const operation = getOperationAST(args.document, args.operationName);
    return new SharedEventResults(source, args, groupKey(args), operation);
  };
}

/** Results already computed for an event, by group. Entries go with the event object. */
const resultsByEvent = new WeakMap<object, Map<string, Result>>();
const documentIds = new WeakMap<DocumentNode, number>();
let nextDocumentId = 0;
const groupKeys = new Map<string, string>();
const MAX_GROUP_KEYS = 10_000;

function groupKey(args: ExecutionArgs): string {
  let documentId = documentIds.get(args.document);
  if (documentId === undefined) {
    documentId = nextDocumentId++;
    documentIds.set(args.document, documentId);
  }
  const caller = (args.contextValue as CallerContext | undefined)?.caller;
  const roles = caller ? `${caller.authenticated ? 'a' : 'o'}:${[...caller.roles].sort().join(',')}` : '-';
  const key = `${documentId}|${args.operationName ?? ''}|${roles}|${JSON.stringify(args.variableValues ?? null)}`;
  // Subscriptions of one group share one key string (a string per subscription adds up).
  const known = groupKeys.get(key);
  if (known !== undefined) return known;
  if (groupKeys.size >= MAX_GROUP_KEYS) groupKeys.clear();
  groupKeys.set(key, key);
  return key;
}

/**
 * Drops Pothos scope-auth's cache of a context (granted scopes, evaluated `authScopes`): built
 * again on demand, from the caller's roles alone, by the next execution that needs it.
 */
function releaseScopeCache(context: unknown): void {
  if (typeof context === 'object' && context !== null) RequestCache.clearForContext(context as object);
}

function isAsyncIterator(value: unknown): value is AsyncIterator<unknown> & AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/** The event stream mapped to execution results (MapSourceToResponseEvent), one object per subscription. */
class SharedEventResults implements AsyncIterableIterator<ExecutionResult>, QueueMapper<unknown> {
  /** True when the source (one of ours) maps what it hands out itself (`ChangeQueue.mapWith`). */
  private readonly mapped: boolean;
  /** Counted open (metrics) until the stream ends, once. */
  private transport: SubscriptionTransport | null;

  constructor(
    private readonly source: AsyncIterator<unknown>,
    private readonly args: ExecutionArgs,
    private readonly key: string,
    private readonly operation: OperationDefinitionNode | null | undefined,
  ) {
    this.transport = subscriptionOpened(args.contextValue);
    this.mapped = source instanceof ChangeQueue;
    if (source instanceof ChangeQueue) source.mapWith(this);
  }

  next(): Promise<IteratorResult<ExecutionResult>> {
    if (this.mapped) return this.source.next() as Promise<IteratorResult<ExecutionResult>>;
    return this.source.next().then(
      (event) => this.resultFor(event),
      (error: unknown) => {
        throw this.mapError(error);
      },
    );
  }

  mapResult(event: IteratorResult<unknown>): unknown {
    return this.resultFor(event);
  }

  /** As graphql-tools' executor does: an error of the source stream becomes a GraphQL error. */
  mapError(error: unknown): GraphQLError {
    const original = error instanceof Error ? error : new Error(String(error));
    return new GraphQLError(original.message, {
      originalError: original,
      nodes: this.operation ? [this.operation] : undefined,
    });
  }

  /** The result for an event: executed by the first subscriber of the group to pull it, shared by the rest. */
  private resultFor(
    event: IteratorResult<unknown>,
  ): IteratorResult<ExecutionResult> | Promise<IteratorResult<ExecutionResult>> {
    if (event.done) return this.ended();
    const payload = event.value;
    observeDelivery(payload);
    let result: Result;
    if (typeof payload !== 'object' || payload === null) {
      result = execute({ ...this.args, rootValue: payload });
    } else {
      let results = resultsByEvent.get(payload);
      if (!results) {
        results = new Map();
        resultsByEvent.set(payload, results);
      }
      const shared = results.get(this.key);
      if (shared) result = shared;
      else {
        result = execute({ ...this.args, rootValue: payload });
        results.set(this.key, result);
      }
    }
    // Most results are ready at once (the fields resolve synchronously): no extra tick for them.
    const context = this.args.contextValue;
    if (!(result instanceof Promise)) {
      releaseScopeCache(context);
      tagEventId(result, payload);
      return { value: result, done: false };
    }
    return result.then(
      (value) => {
        releaseScopeCache(context);
        tagEventId(value, payload);
        return { value, done: false };
      },
      (error: unknown) => {
        releaseScopeCache(context);
        throw error;
      },
    );
  }

  /** The stream is over (its end, the consumer's `return` or `throw`): no longer open. */
  private ended(): IteratorReturnResult<undefined> {
    if (this.transport) subscriptionClosed(this.transport);
    this.transport = null;
    return DONE;
  }

  return(): Promise<IteratorResult<ExecutionResult>> {
    this.ended();
    return this.source.return ? this.source.return().then(() => DONE) : Promise.resolve(DONE);
  }

  throw(error?: unknown): Promise<IteratorResult<ExecutionResult>> {
    this.ended();
    return this.source.throw ? this.source.throw(error).then(() => DONE) : Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
