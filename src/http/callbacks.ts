import { type DocumentNode, type ExecutionResult, GraphQLError, getOperationAST } from 'graphql';
import type { Plugin, YogaServerInstance } from 'graphql-yoga';
import { type Caller, ROLES } from '../auth.js';
import { acceptsCallbacks, type CallbackSubscriptions, type SubscribeOperation } from '../callbacks/index.js';
import { encodeChangeCursor } from '../domain/cursor.js';
import type { GraphQLContext } from '../schema/context.js';
import type { RegisteredCaller } from '../store/types.js';
import { callerOf } from './security.js';

/**
 * A router's subscription request of Apollo's HTTP callback protocol (a POST accepting
 * `application/json;callbackSpec=1.0` with `extensions.subscription`) is answered here, after the
 * router secret, CSRF and authentication have passed like any request: the subscription is
 * registered (see CallbackSubscriptions.register), and the answer is `{"data":null}` or its errors.
 */
export function useCallbackSubscriptions(callbacks: CallbackSubscriptions): Plugin {
  return {
    // Not async: every other request goes on without a promise to wait for.
    onParams({ params, request, setResult }) {
      const extension = params.extensions?.subscription;
      if (request.method !== 'POST' || extension === undefined || !acceptsCallbacks(request.headers.get('accept'))) {
        return;
      }
      return callbacks
        .register({
          extension,
          query: params.query ?? '',
          operationName: params.operationName ?? null,
          variables: (params.variables as Record<string, unknown> | undefined) ?? null,
          caller: registeredCaller(callerOf(request)),
        })
        .then(setResult);
    },
  };
}

function registeredCaller(caller: Caller): RegisteredCaller {
  return {
    authenticated: caller.authenticated,
    subject: caller.subject,
    roles: [...caller.roles],
    expiresAt: caller.expiresAt,
  };
}

function callerOfRegistration(caller: RegisteredCaller): Caller {
  return {
    authenticated: caller.authenticated,
    subject: caller.subject,
    roles: new Set(ROLES.filter((role) => caller.roles.includes(role))),
    expiresAt: caller.expiresAt,
  };
}

type AnyYoga = YogaServerInstance<Record<string, unknown>, GraphQLContext>;

/**
 * Runs a registration's operation through yoga's envelop as its caller, as graphql-ws operations
 * run (armor's limits, the introspection rule, scopes and error masking included), resuming after
 * its last delivered change when it has one (`lastEventId`, as an SSE client's).
 */
export function callbackOperation(yoga: () => AnyYoga): SubscribeOperation {
  return async (registration, backlog) => {
    const enveloped = yoga().getEnveloped({
      params: { query: registration.query, operationName: registration.operationName },
      caller: callerOfRegistration(registration.caller),
      callbackSubscription: registration.id,
    });
    let document: DocumentNode;
    try {
      document = enveloped.parse(registration.query);
    } catch (error) {
      if (error instanceof GraphQLError) return { errors: [error] };
      throw error;
    }
    const errors = enveloped.validate(enveloped.schema, document);
    if (errors.length > 0) return { errors };
    if (getOperationAST(document, registration.operationName)?.operation !== 'subscription') {
      return {
        errors: [
          new GraphQLError('The HTTP callback protocol carries subscriptions only', {
            extensions: { code: 'VALIDATION' },
          }),
        ],
      };
    }
    const contextValue = (await enveloped.contextFactory()) as unknown as GraphQLContext;
    contextValue.backlog = backlog;
    if (registration.position !== null) contextValue.lastEventId = encodeChangeCursor(registration.position);
    return (await enveloped.subscribe({
      schema: enveloped.schema,
      document,
      operationName: registration.operationName,
      variableValues: registration.variables,
      contextValue,
    })) as AsyncIterableIterator<ExecutionResult> | ExecutionResult;
  };
}
