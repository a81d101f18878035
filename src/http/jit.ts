import type { Plugin } from '@envelop/core';
import { useGraphQlJit } from '@envelop/graphql-jit';
import { type ExecutionArgs, getOperationAST } from 'graphql';

/**
 * Queries run compiled by graphql-jit (one compiled function per parsed document, which yoga
 * keeps in its parser cache): the executor's per-field work was the largest share of an
 * `activeLivestreams` request after the socket write (bench/README.md, issue 17). Mutations and
 * subscriptions keep graphql-js: mutations answer errors through their unions (the errors plugin's
 * `isTypeOf` wrappers), and subscriptions are executed per event by the fan-out (event-plan.ts).
 */
export function useCompiledQueries(): Plugin {
  return useGraphQlJit({}, { enableIf: isQuery });
}

function isQuery(args: ExecutionArgs): boolean {
  return getOperationAST(args.document, args.operationName)?.operation === 'query';
}
