import { createCounter, createHistogram, usePrometheus } from '@graphql-yoga/plugin-prometheus';
import type { ExecutionArgs, OperationDefinitionNode } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { registry } from './metrics.js';
import { startOperationSpan } from './tracing.js';

/**
 * GraphQL operations counted and timed by yoga's Prometheus plugin, into our registry under our
 * names, labelled by operation type only (an operation's name is the client's to choose, so it
 * is not a bounded label). `/metrics` is served by http/server.ts, not by the plugin.
 *
 * Subscriptions are counted here, when they are set up, not by the plugin: for the `subscribe`
 * phase it wraps every subscription's event stream in an async generator (to see its end), which
 * held 2.2 KB per idle subscriber (bench/README.md, fan-out memory: 12.2 KB before, 10.0 after).
 */
export function graphqlMetricsPlugins(): Plugin[] {
  const operationType = (params: { operationType?: string }) => ({ operation_type: params.operationType ?? 'unknown' });
  const operations = createCounter({
    registry,
    counter: {
      name: 'livestream_graphql_operations_total',
      help: 'GraphQL operations executed or subscribed, by operation type (query, mutation, subscription).',
      labelNames: ['operation_type'],
    },
    fillLabelsFn: operationType,
    phases: ['execute'] as ['execute'],
  });
  const duration = createHistogram({
    registry,
    histogram: {
      name: 'livestream_graphql_operation_duration_seconds',
      help: 'Time to execute a GraphQL operation (to set up a subscription), by operation type.',
      labelNames: ['operation_type'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    },
    fillLabelsFn: operationType,
    phases: ['execute'] as ['execute'],
  });
  const errors = createCounter({
    registry,
    counter: {
      name: 'livestream_graphql_errors_total',
      help: 'GraphQL operations answered with errors, by the phase that failed (parse, validate, execute, subscribe).',
      labelNames: ['phase'],
    },
    fillLabelsFn: (params) => ({ phase: params.errorPhase ?? 'unknown' }),
    phases: ['parse', 'validate', 'context', 'execute'] as ['parse', 'validate', 'context', 'execute'],
  });
  const prometheus = usePrometheus({
    registry,
    endpoint: false,
    skipIntrospection: true,
    metrics: {
      graphql_envelop_request: operations,
      graphql_envelop_request_duration: duration,
      graphql_envelop_error_result: errors,
      graphql_envelop_request_time_summary: false,
      graphql_envelop_phase_parse: false,
      graphql_envelop_phase_validate: false,
      graphql_envelop_phase_context: false,
      graphql_envelop_phase_execute: false,
      graphql_envelop_phase_subscribe: false,
      graphql_envelop_deprecated_field: false,
      graphql_envelop_schema_change: false,
      graphql_envelop_execute_resolver: false,
      graphql_yoga_http_duration: false,
    },
  });
  const subscription = { operation_type: 'subscription' };
  // One hooks object for every subscription, and only `onSubscribeResult`: envelop keeps what a
  // plugin's `onSubscribe` returns for as long as the subscription lives (the scope of its error
  // wrapper), and a plugin with `onSubscribeError` makes it wrap every event stream in a generator.
  const started = new WeakMap<object, number>();
  const hooks = {
    onSubscribeResult({ args, result }: { args: { contextValue: object }; result: unknown }) {
      const began = started.get(args.contextValue);
      started.delete(args.contextValue);
      operations.counter.inc(subscription);
      if (began !== undefined) duration.histogram.observe(subscription, (performance.now() - began) / 1000);
      if (!isAsyncIterable(result) && (result as { errors?: unknown[] }).errors?.length) {
        errors.counter.inc({ phase: 'subscribe' });
      }
    },
  };
  const subscriptions: Plugin = {
    onSubscribe({ args }) {
      started.set(args.contextValue, performance.now());
      return hooks;
    },
  };
  return [prometheus, subscriptions];
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
