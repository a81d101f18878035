import SchemaBuilder from '@pothos/core';
import DirectivesPlugin from '@pothos/plugin-directives';
import ErrorsPlugin from '@pothos/plugin-errors';
import FederationPlugin from '@pothos/plugin-federation';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLError } from 'graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { ForbiddenError } from '../domain/errors.js';
import { serializeDateTime } from '../fanout/index.js';
import type { GraphQLContext } from './context.js';

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
    authScopes: ({ caller }) => ({
      host: caller.roles.has('host'),
      viewer: caller.roles.has('viewer') || caller.roles.has('host'),
    }),
    // Mutations carry ForbiddenError in their result unions; elsewhere it is a GraphQL error.
    unauthorizedError: (_parent, _context, info, result) =>
      info.parentType === info.schema.getMutationType()
        ? new ForbiddenError(result.message)
        : new GraphQLError(result.message, { extensions: { code: 'FORBIDDEN' } }),
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
// Reading and subscribing need `viewer` (or `host`); every mutation needs `host`.
builder.queryType({ authScopes: { viewer: true } });
builder.mutationType({ authScopes: { host: true } });
builder.subscriptionType({ authScopes: { viewer: true } });
