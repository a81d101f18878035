import type { Plugin } from '@envelop/core';
import { useGraphQlJit } from '@envelop/graphql-jit';
import { type DocumentNode, type ExecutionArgs, getOperationAST } from 'graphql';
import { getVariableValues } from 'graphql/execution/values.js';

/**
 * Queries run compiled by graphql-jit: the executor's per-field work was the largest share of an
 * `activeLivestreams` request after the socket write; compiled, the service spends less CPU per
 * request than the bare yoga (bench/README.md, "Query throughput, 2026-12-05 evening session").
 *
 * A document is compiled on its second execution, graphql-js runs its first: a one-off query (a
 * stream of distinct ones included) costs no compilation, while a router's repeated operations
 * are compiled once. Compiled queries live as long as yoga's parsed documents (its parser cache,
 * bounded), which key them. Variables that do not coerce are left to graphql-js, which answers
 * them 400 (graphql-jit's own error would be answered as an unexpected one). Mutations and
 * subscriptions keep graphql-js: mutations answer errors through their unions (the errors plugin's
 * `isTypeOf`), and the fan-out runs subscriptions' events (event-plan.ts).
 */
export function useCompiledQueries(): Plugin {
  const seen = new WeakSet<DocumentNode>();
  const enableIf = (args: ExecutionArgs): boolean => {
    const operation = getOperationAST(args.document, args.operationName);
    if (operation?.operation !== 'query') return false;
    if (!seen.has(args.document)) {
      seen.add(args.document);
      return false;
    }
    const definitions = operation.variableDefinitions;
    if (!definitions?.length) return true;
    return !('errors' in getVariableValues(args.schema, definitions, args.variableValues ?? {}, { maxErrors: 1 }));
  };
  return useGraphQlJit({}, { enableIf });
}
