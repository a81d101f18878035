import SchemaBuilder from '@pothos/core';
import DirectivesPlugin from '@pothos/plugin-directives';
import ErrorsPlugin from '@pothos/plugin-errors';
import FederationPlugin from '@pothos/plugin-federation';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLError } from 'graphql';
import { DateTimeResolver } from 'graphql-scalars';
import type { Caller } from '../auth.js';
import { ForbiddenError } from '../domain/errors.js';
import { serializeDateTime } from '../fanout/index.js';
import type { GraphQLContext } from './context.js';

/**
 * The scopes a caller holds, from its roles: the one place they are decided. The schema's
 * `authScopes` ask these, and so do the two checks made outside scope-auth (`_entities`, in
 * entities.ts, and `Ingest.streamKey`).
 */
export const grants = {
  host: (caller: Caller): boolean => caller.roles.has('host'),
  viewer: (caller: Caller): boolean => caller.roles.has('viewer') || caller.roles.has('host'),
};

/** What a refused read answers (as scope-auth's `unauthorizedError` below, outside mutations). */
export function forbidden(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'FORBIDDEN' } });
}

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  Scalars: { DateTime: { Input: Date; Output: Date } };
  DefaultFieldNullability: false;
  DefaultEdgesNullability: { list: false; items: false };
  DefaultNodeNullability: false;
  // Roles from the caller's JWT (`roles` claim); in open mode (no auth configured) a caller has both.
  AuthScopes: { host: boolean; viewer: boolean };
}>({
  defaultFieldNullability: false,
  // The errors plugin wraps scope-auth, so a refused mutation answers its union's ForbiddenError.
  // The federation plugin goes last.
  plugins: [ErrorsPlugin, ScopeAuthPlugin, RelayPlugin, DirectivesPlugin, FederationPlugin],
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: ({ caller }) => ({ host: grants.host(caller), viewer: grants.viewer(caller) }),
    // Mutations carry ForbiddenError in their result unions; elsewhere it is a GraphQL error.
    unauthorizedError: (_parent, _context, info, result) =>
      info.parentType === info.schema.getMutationType()
        ? new ForbiddenError(result.message)
        : forbidden(result.message),
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodeQueryOptions: false,
    nodesQueryOptions: false,
    edgesFieldOptions: { nullable: { list: false, items: false } },
    nodeFieldOptions: { nullable: false },
  },
  errors: {
    defaultTypes: [],
  },
});

builder.addScalarType('DateTime', DateTimeResolver, { serialize: serializeDateTime });
// Reading and subscribing need `viewer` (or `host`); every mutation needs `host`. These root
// scopes guard every object: each is reached through a root field, or through `_entities`, which
// is not a Pothos field and checks `viewer` itself (entities.ts). So object types carry no scopes
// of their own, which scope-auth would check once per object returned (`runScopesOnType`, in
// `isTypeOf`: 3% of an `activeLivestreams` request, bench/README.md, and the reason graphql-jit
// could not run the schema).
builder.queryType({ authScopes: { viewer: true } });
builder.mutationType({ authScopes: { host: true } });
builder.subscriptionType({ authScopes: { viewer: true } });
