import { RequestCache } from '@pothos/plugin-scope-auth';
import {
  createSourceEventStream,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  execute,
  GraphQLError,
  type GraphQLSchema,
  getOperationAST,
  type OperationDefinitionNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { tagEventId } from '../event-ids.js';
import { hiddenSlot } from '../hidden.js';
import {
  observeDelivery,
  type SubscriptionTransport,
  subscriptionClosed,
  subscriptionOpened,
} from '../observability/metrics.js';
import { isOneReaders } from '../row-text.js';
import { EventPlan } from './event-plan.js';
import { ChangeQueue, type QueueMapper, type ReadyIterator } from './queue.js';

type Result = ExecutionResult | Promise<ExecutionResult>;

/** What this module reads of a GraphQL context: the caller's roles (see `groupKey`). */
interface CallerContext {
  caller?: { authenticated: boolean; roles: ReadonlySet<string> };
}

/** How yoga masks errors (its `maskedErrors` option, with its logging): applied to every event here. */
interface Masking {
  maskError: (error: unknown, message: string) => Error;
  errorMessage?: string;
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
 * It is an envelop plugin, the last of ours, so every plugin before it still sees each
 * subscription (its `onSubscribe` and `onSubscribeResult` hooks run, over HTTP (SSE) and WebSocket
 * alike). Once the event stream exists it stops the `onSubscribe` chain with its own result: the
 * hooks after it are yoga's error masking, whose `onSubscribeResult` / `onSubscribeError` made
 * envelop wrap every subscription in two more iterators (`mapAsyncIterator`, `errorAsyncIterator`:
 * ≈ 20 closures and contexts per idle subscriber, bench/README.md "Fan-out", issue 17). The same
 * masking is applied here instead, to each shared result once and to each error the stream throws
 * (abort errors pass unmasked, as yoga lets them). Errors before the event stream exists are
 * answered by the default subscribe, through every hook, word for word.
 */
export function useSharedSubscriptionExecution(): Plugin<CallerContext> {
  let masking: Masking | null = null;
  return {
    onYogaInit({ yoga }) {
      masking = (yoga as unknown as { maskedErrorsOpts: Masking | null }).maskedErrorsOpts;
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const stream = (source: unknown) => {
        // An error result: the default subscribe answers it (and runs the root field again).
        if (!isAsyncIterator(source)) return;
        // The root field's `authScopes` are checked: its per-context cache (Pothos scope-auth,
        // several Maps) would otherwise live as long as the subscription. Each event's execution
        // makes its own and lets it go (see `resultFor`).
        releaseScopeCache(args.contextValue);
        const operation = getOperationAST(args.document, args.operationName);
        setResultAndStopExecution(new SharedEventResults(source, args, groupKey(args), operation, masking));
      };
      const source = createSourceEventStream(args);
      return source instanceof Promise ? source.then(stream) : stream(source);
    },
  };
}

/**
 * Results already computed for an event, by group: kept with the event object (hidden.ts: JSON,
 * spreads and `Object.keys` do not see it), the first group's inline and any other's in a map. A
 * WeakMap entry per event cost a third of a replay's CPU (13–15 → 8–9.5 µs a change,
 * bench/README.md, "Catch-up", second 2026-12-05 subsection): its entries outlive their key by a
 * collection and make the collector trace ephemerons, where this goes with the event.
 */
interface EventResults {
  key: string;
  result: Result;
  others?: Map<string, Result>;
}
const eventResults = hiddenSlot<EventResults>();

function sharedResult(event: object, key: string): Result | undefined {
  const known = eventResults.get(event);
  if (!known) return undefined;
  return known.key === key ? known.result : known.others?.get(key);
}

/** Keeps `result` for the other subscribers of `key`; a frozen or sealed event keeps none. */
function shareResult(event: object, key: string, result: Result): void {
  const known = eventResults.get(event);
  if (known) {
    known.others ??= new Map();
    known.others.set(key, result);
  } else {
    eventResults.set(event, { key, result });
  }
}
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
 * Plans by group key (the document, operation and variables they are made of, and roles): one
 * plan per group, not per subscription (a subscription by id executes its own snapshot).
 */
const plansBySchema = new WeakMap<GraphQLSchema, Map<string, EventPlan | null>>();

function planOf(key: string, args: ExecutionArgs, operation: OperationDefinitionNode | null | undefined) {
  let plans = plansBySchema.get(args.schema);
  if (!plans) {
    plans = new Map();
    plansBySchema.set(args.schema, plans);
  }
  let plan = plans.get(key);
  if (plan === undefined) {
    if (plans.size >= MAX_GROUP_KEYS) plans.clear();
    plan = EventPlan.of(args, operation);
    plans.set(key, plan);
  }
  return plan;
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
const DEFAULT_MESSAGE = 'Unexpected error.';

/** As yoga tells an abort (its masking lets those through). */
function isAbortError(error: unknown): error is Error {
  return (
    typeof error === 'object' &&
    error?.constructor?.name === 'DOMException' &&
    ((error as Error).name === 'AbortError' || (error as Error).name === 'TimeoutError')
  );
}

/** The event stream mapped to execution results (MapSourceToResponseEvent), one object per subscription. */
class SharedEventResults
  implements AsyncIterableIterator<ExecutionResult>, ReadyIterator<ExecutionResult>, QueueMapper<unknown>
{
  /** True when the source (one of ours) maps what it hands out itself (`ChangeQueue.mapWith`). */
  private readonly mapped: boolean;
  /** Counted open (metrics) until the stream ends, once. */
  private transport: SubscriptionTransport | null;
  /** The selection's plan (null: not of its shape), its group's, found at the first event it executes. */
  private plan: EventPlan | null | undefined = undefined;

  constructor(
    private readonly source: AsyncIterator<unknown>,
    private readonly args: ExecutionArgs,
    private readonly key: string,
    private readonly operation: OperationDefinitionNode | null | undefined,
    private readonly masking: Masking | null,
  ) {
    this.transport = subscriptionOpened(args.contextValue);
    this.mapped = source instanceof ChangeQueue;
    if (source instanceof ChangeQueue) source.mapWith(this);
  }

  next(): Promise<IteratorResult<ExecutionResult>> {
    if (this.mapped) {
      // The consumer may wait now: what the burst's executions kept goes (see `execute`).
      releaseScopeCache(this.args.contextValue);
      return this.source.next() as Promise<IteratorResult<ExecutionResult>>;
    }
    return this.source.next().then(
      (event) => this.resultFor(event),
      (error: unknown) => {
        throw this.mapError(error);
      },
    );
  }

  takeReady(): IteratorResult<ExecutionResult> | Promise<IteratorResult<ExecutionResult>> | undefined {
    if (!this.mapped) return undefined;
    const ready = (this.source as ChangeQueue<unknown>).takeReady() as
      | IteratorResult<ExecutionResult>
      | Promise<IteratorResult<ExecutionResult>>
      | undefined;
    if (ready === undefined) releaseScopeCache(this.args.contextValue);
    return ready;
  }

  mapResult(event: IteratorResult<unknown>): unknown {
    if (event.done) return this.ended();
    const result = this.resultOf(event.value);
    if (result instanceof Promise) return result.then((value) => ({ value, done: false }));
    // The queue's own result object, made for this pull (QueueMapper): one object less per event.
    (event as IteratorYieldResult<unknown>).value = result;
    return event;
  }

  /**
   * As graphql-tools' executor does: an error of the source stream becomes a GraphQL error; then
   * masked as yoga would (a typed error passes, an internal one becomes "Unexpected error.").
   */
  mapError(error: unknown): Error {
    if (isAbortError(error)) return error;
    const original = error instanceof Error ? error : new Error(String(error));
    const wrapped = new GraphQLError(original.message, {
      originalError: original,
      nodes: this.operation ? [this.operation] : undefined,
    });
    return this.masking ? this.masking.maskError(wrapped, this.masking.errorMessage ?? DEFAULT_MESSAGE) : wrapped;
  }

  /** An event's result as yoga's masking would leave it, tagged with the event's SSE id. */
  private finish(result: ExecutionResult, payload: unknown): ExecutionResult {
    const masking = this.masking;
    const masked =
      masking && result.errors?.length
        ? {
            ...result,
            errors: result.errors.map((e) => masking.maskError(e, masking.errorMessage ?? DEFAULT_MESSAGE)),
          }
        : result;
    tagEventId(masked, payload);
    return masked as ExecutionResult;
  }

  /** The result for an event: executed by the first subscriber of the group to pull it, shared by the rest. */
  private resultFor(
    event: IteratorResult<unknown>,
  ): IteratorResult<ExecutionResult> | Promise<IteratorResult<ExecutionResult>> {
    if (event.done) return this.ended();
    const result = this.resultOf(event.value);
    // Most results are ready at once (the fields resolve synchronously): no extra tick for them.
    if (!(result instanceof Promise)) return { value: result, done: false };
    return result.then((value) => ({ value, done: false }));
  }

  private resultOf(payload: unknown): Result {
    observeDelivery(payload);
    if (typeof payload !== 'object' || payload === null) return this.execute(payload);
    // A change the log read for this subscription alone (a replay): no other subscriber pulls it,
    // and a value kept with that record (a Proxy) takes V8's slow path for private fields, ≈ 170 ns
    // a change (bench/README.md, "Catch-up", 2026-12-06 session).
    if (isOneReaders(payload)) return this.execute(payload);
    const shared = sharedResult(payload, this.key);
    if (shared) return shared;
    const result = this.execute(payload);
    shareResult(payload, this.key, result);
    return result;
  }

  /**
   * Executes the selection for one event: masked and tagged once, then shared by the group. A
   * selection of the plain shape runs its plan (event-plan.ts), made at its first event; any
   * other, or an event off the plan's path, is executed by graphql-js.
   */
  private execute(payload: unknown): Result {
    const context = this.args.contextValue;
    if (this.plan === undefined) this.plan = planOf(this.key, this.args, this.operation);
    const planned = this.plan?.run(payload, context);
    if (planned) {
      // A burst (a replay's page) keeps the scope cache from one event to the next (the type's
      // `authScopes` made it again for each: 8% of a replay's profile); it goes when the
      // consumer pulls with nothing held (`next`, `takeReady`), so an idle subscription holds none.
      if (!this.mapped) releaseScopeCache(context);
      return this.finish(planned, payload);
    }
    const result = execute({ ...this.args, rootValue: payload });
    if (!(result instanceof Promise)) {
      releaseScopeCache(context);
      return this.finish(result, payload);
    }
    return result.then(
      (value) => {
        releaseScopeCache(context);
        return this.finish(value, payload);
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
