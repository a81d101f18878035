import type { DocumentNode, ExecutionArgs, ExecutionResult, OperationDefinitionNode } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { Counter, Histogram } from 'prom-client';
import { registry } from './metrics.js';
import { startOperationSpan } from './tracing.js';

const operations = new Counter({
  name: 'livestream_graphql_operations_total',
  help: 'GraphQL operations executed or subscribed, by operation type (query, mutation, subscription).',
  labelNames: ['operation_type'] as const,
  registers: [registry],
});
const durations = new Histogram({
  name: 'livestream_graphql_operation_duration_seconds',
  help: 'Time to execute a GraphQL operation (to set up a subscription), by operation type.',
  labelNames: ['operation_type'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
  registers: [registry],
});
const errors = new Counter({
  name: 'livestream_graphql_errors_total',
  help: 'GraphQL operations answered with errors, by the phase that failed (parse, validate, execute, subscribe).',
  labelNames: ['phase'] as const,
  registers: [registry],
});
const errorsIn = {
  parse: errors.labels({ phase: 'parse' }),
  validate: errors.labels({ phase: 'validate' }),
  context: errors.labels({ phase: 'context' }),
  execute: errors.labels({ phase: 'execute' }),
  subscribe: errors.labels({ phase: 'subscribe' }),
};

/** An operation type's label children, bound once (`labels(...)` hashes its labels on every call). */
interface OperationMetrics {
  count: Counter.Internal;
  time: Histogram.Internal<'operation_type'>;
}
const byType = new Map<string, OperationMetrics>();
function metricsOf(type: string): OperationMetrics {
  let metrics = byType.get(type);
  if (!metrics) {
    metrics = { count: operations.labels({ operation_type: type }), time: durations.labels({ operation_type: type }) };
    byType.set(type, metrics);
  }
  return metrics;
}

/**
 * Each parsed document's metrics, found once: yoga's parser cache hands every request with the
 * same text the same document. Labelled by the type of the document's first definition, as
 * @envelop/prometheus labels it ('unknown' when that is not an operation).
 */
const byDocument = new WeakMap<DocumentNode, OperationMetrics>();
function documentMetrics(document: DocumentNode): OperationMetrics {
  let metrics = byDocument.get(document);
  if (!metrics) {
    const first = document.definitions[0];
    metrics = metricsOf(first?.kind === 'OperationDefinition' ? first.operation : 'unknown');
    byDocument.set(document, metrics);
  }
  return metrics;
}

/**
 * GraphQL operations counted and timed into our registry under our names, labelled by operation
 * type only (an operation's name is the client's to choose, so it is not a bounded label), and
 * errors by the phase that failed. `/metrics` is served by http/server.ts.
 *
 * The same metrics @envelop/prometheus (through yoga's plugin) gave, without its per-request work:
 * it built and filtered a label object on every parse, filtered its handler lists on every
 * execution and hashed the labels on every count. Here an operation's label children are found
 * once per document (bench/README.md, "Query throughput, 2026-12-05 session").
 *
 * Subscriptions are counted when they are set up: watching a subscription's end would wrap every
 * event stream in an async generator (2.2 KB per idle subscriber, bench/README.md, fan-out memory).
 */
export function graphqlMetricsPlugins(): Plugin[] {
  /** The metrics of each operation under way, by its context (none for introspection). */
  const underWay = new WeakMap<object, OperationMetrics>();
  const operations: Plugin = {
    onPluginInit({ registerContextErrorHandler }) {
      registerContextErrorHandler(() => errorsIn.context.inc());
    },
    onParse({ context, params }) {
      // Introspection (a router's or an IDE's) is not counted.
      const source = typeof params.source === 'string' ? params.source : params.source.body;
      if (source.includes('__schema')) return;
      return ({ result }) => {
        if (result instanceof Error || result === null) {
          errorsIn.parse.inc();
          return;
        }
        underWay.set(context, documentMetrics(result));
      };
    },
    onValidate({ context }) {
      if (!underWay.has(context)) return;
      return ({ valid }) => {
        if (!valid) errorsIn.validate.inc();
      };
    },
    onExecute({ args }) {
      const metrics = underWay.get(args.contextValue as object);
      if (!metrics) return;
      const began = Date.now();
      const end = () => {
        metrics.count.inc();
        metrics.time.observe((Date.now() - began) / 1000);
      };
      const countErrors = ({ result }: { result: ExecutionResult }) => {
        const count = result.errors?.length;
        if (count) errorsIn.execute.inc(count);
      };
      return {
        onExecuteDone({ result }) {
          if (isAsyncIterable(result)) return { onNext: countErrors, onEnd: end };
          countErrors({ result });
          end();
          return undefined;
        },
      };
    },
  };
  const subscription = metricsOf('subscription');
  // One hooks object for every subscription, and only `onSubscribeResult`: envelop keeps what a
  // plugin's `onSubscribe` returns for as long as the subscription lives (the scope of its error
  // wrapper), and a plugin with `onSubscribeError` makes it wrap every event stream in a generator.
  const started = new WeakMap<object, number>();
  const hooks = {
    onSubscribeResult({ args, result }: { args: { contextValue: object }; result: unknown }) {
      const began = started.get(args.contextValue);
      started.delete(args.contextValue);
      subscription.count.inc();
      if (began !== undefined) subscription.time.observe((performance.now() - began) / 1000);
      if (!isAsyncIterable(result) && (result as { errors?: unknown[] }).errors?.length) {
        errorsIn.subscribe.inc();
      }
    },
  };
  const subscriptions: Plugin = {
    onSubscribe({ args }) {
      started.set(args.contextValue, performance.now());
      return hooks;
    },
  };
  return [operations, subscriptions];
}
function operationOf(args: ExecutionArgs): OperationDefinitionNode | undefined {
  for (const definition of args.document.definitions) {
    if (definition.kind !== 'OperationDefinition') continue;
    if (!args.operationName || definition.name?.value === args.operationName) return definition;
  }
  return undefined;
}

function spanFor(args: ExecutionArgs): ((error?: unknown) => void) | undefined {
  const operation = operationOf(args);
  const type = operation?.operation ?? 'query';
  const name = operation?.name?.value;
  return startOperationSpan(name ? `graphql.${type} ${name}` : `graphql.${type}`, {
    'graphql.operation.type': type,
    ...(name ? { 'graphql.operation.name': name } : {}),
  });
}

/** A span per GraphQL operation (a subscription's span covers setting it up). Tracing only. */
export function graphqlTracingPlugin(): Plugin {
  return {
    onExecute({ args }) {
      const end = spanFor(args);
      if (!end) return;
      return {
        onExecuteDone({ result }) {
          const errors = 'errors' in result ? result.errors : undefined;
          end(errors?.length ? errors[0] : undefined);
        },
      };
    },
    onSubscribe({ args }) {
      const end = spanFor(args);
      if (!end) return;
      return {
        onSubscribeResult() {
          end();
        },
        onSubscribeError({ error }) {
          end(error);
        },
      };
    },
  };
}

/** The GraphQL plugins of this module: metrics always, a span per operation when tracing is configured. */
export function graphqlObservabilityPlugins(tracing: boolean): Plugin[] {
  return tracing ? [...graphqlMetricsPlugins(), graphqlTracingPlugin()] : graphqlMetricsPlugins();
}
