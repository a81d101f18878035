import SchemaBuilder from '@pothos/core';
import DirectivesPlugin from '@pothos/plugin-directives';
import ErrorsPlugin from '@pothos/plugin-errors';
import FederationPlugin from '@pothos/plugin-federation';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLError } from 'graphql';
import { DateTimeResolver } from 'graphql-scalars';
import { ForbiddenError } from '../domain/errors.js';
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

// graphql-scalars' DateTime serialises to the Date itself, left for JSON.stringify to turn into
// its ISO string through `toJSON`, which takes every result with a date off V8's fast stringify
// path; the same string, made here.
/**
 * Each Date's ISO string, made once: the records `activeLivestreams` answers with are shared
 * between requests until a stream changes (Store.listActive), and so are their Dates, which
 * nothing ever modifies.
 */
const isoStrings = new WeakMap<Date, string>();

builder.addScalarType('DateTime', DateTimeResolver, {
  serialize: (value) => {
    // Our own values are valid Dates (every record's times): straight to the string.
    if (value instanceof Date && !Number.isNaN(value.getTime())) {
      let iso = isoStrings.get(value);
      if (iso === undefined) {
        iso = value.toISOString();
        isoStrings.set(value, iso);
      }
      return iso as unknown as Date;
    }
    const serialized: Date | string = DateTimeResolver.serialize(value);
    // Typed as the Date it stands for (Pothos types a scalar's wire value as its output type).
    return (serialized instanceof Date ? serialized.toISOString() : serialized) as unknown as Date;
  },
});
// Reading and subscribing need `viewer` (or `host`); every mutation needs `host`.
builder.queryType({ authScopes: { viewer: true } });
builder.mutationType({ authScopes: { host: true } });
builder.subscriptionType({ authScopes: { viewer: true } });
