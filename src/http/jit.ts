import type { Plugin } from '@envelop/core';
import { BREAK, type DocumentNode, getOperationAST, type OperationDefinitionNode, visit } from 'graphql';
import { getVariableValues } from 'graphql/execution/values.js';
import { type CompiledQuery, compileQuery, isCompiledQuery } from 'graphql-jit';

type Compiled = CompiledQuery['query'];

/**
 * Queries run compiled by graphql-jit: the executor's per-field work was the largest share of an
 * `activeLivestreams` request after the socket write; compiled, the service spends less CPU per
 * request than the bare yoga (bench/README.md, "Query throughput, 2026-12-05 evening session").
 *
 * An operation is compiled on its second execution, graphql-js runs its first: a one-off query (a
 * stream of distinct ones included) costs no compilation, while a router's repeated operations
 * are compiled once. Compiled functions are keyed by the operation's node in yoga's cached
 * documents (its parser cache, bounded), so they go with them. graphql-js runs whatever
 * graphql-jit cannot compile, and documents with a variable inside a list or object literal
 * (`_entities(representations: [{ id: $id }])`: graphql-jit 0.8.9 passes such a literal to the
 * `_Any` scalar without its variables, where 0.8.7 refused to compile it),
 * and variables that do not coerce (graphql-jit's own error class would be answered 500, not 400).
 * Mutations and subscriptions keep graphql-js: mutations answer errors through their unions (the
 * errors plugin's `isTypeOf`), and the fan-out runs subscriptions' events (event-plan.ts).
 */
export function useCompiledQueries(): Plugin {
  const seen = new WeakSet<OperationDefinitionNode>();
  const compiled = new WeakMap<OperationDefinitionNode, Compiled | null>();
  const compile = (schema: Parameters<typeof compileQuery>[0], document: DocumentNode, name?: string) => {
    if (hasVariableInLiteral(document)) return null;
    const result = compileQuery(schema, document, name);
    return isCompiledQuery(result) ? result.query : null;
  };
  return {
    onExecute({ args, setExecuteFn }) {
      const operation = getOperationAST(args.document, args.operationName);
      if (operation?.operation !== 'query') return;
      let query = compiled.get(operation);
      if (query === undefined) {
        if (!seen.has(operation)) {
          seen.add(operation);
          return;
        }
        query = compile(args.schema, args.document, operation.name?.value);
        compiled.set(operation, query);
      }
      if (!query) return;
      const definitions = operation.variableDefinitions;
      const variables = args.variableValues ?? {};
      if (definitions?.length && 'errors' in getVariableValues(args.schema, definitions, variables, { maxErrors: 1 })) {
        return;
      }
      const run = query;
      setExecuteFn((execution) => run(execution.rootValue, execution.contextValue, execution.variableValues));
    },
  };
}

function hasVariableInLiteral(document: DocumentNode): boolean {
  let found = false;
  let depth = 0;
  const literal = { enter: () => void depth++, leave: () => void depth-- };
  visit(document, {
    ListValue: literal,
    ObjectValue: literal,
    Variable() {
      if (depth === 0) return undefined;
      found = true;
      return BREAK;
    },
  });
  return found;
}
