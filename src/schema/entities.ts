import { GraphQLError, type GraphQLSchema, isUnionType } from 'graphql';
import { forbidden, grants } from './builder.js';
import type { GraphQLContext } from './context.js';

/** Longest key a representation may carry (room ids are bounded alike). */
const MAX_KEY_LENGTH = 256;

/** Why a representation cannot name one of our entities, or null when it can. */
function problemWith(representation: unknown, entityTypes: ReadonlySet<string>): string | null {
  if (typeof representation !== 'object' || representation === null || Array.isArray(representation)) {
    return 'it must be an object with __typename and id';
  }
  const { __typename, id } = representation as { __typename?: unknown; id?: unknown };
  if (typeof __typename !== 'string' || !entityTypes.has(__typename)) {
    return '__typename must name an entity of this subgraph';
  }
  if (typeof id !== 'string' || id.length === 0) return 'id must be a non-empty string';
  if (id.length > MAX_KEY_LENGTH) return `id must be at most ${MAX_KEY_LENGTH} characters`;
  return null;
}

/**
 * Judges each `_entities` representation alone. The federation library's resolver maps the whole
 * list at once and throws on the first malformed one (`id: null`, `true`, `{}`, an unknown
 * `__typename`), which failed the whole batch as an internal error. Here a bad representation is
 * the caller's mistake: a `VALIDATION` error in its slot (which answers `null`), while the good
 * ones are resolved together, batched as before.
 *
 * The field comes from `@apollo/subgraph` through Pothos' federation plugin, neither of which
 * offers a hook for this, so its resolver is wrapped on the built schema.
 */
export function judgeEntityRepresentations(schema: GraphQLSchema): GraphQLSchema {
  const field = schema.getQueryType()?.getFields()._entities;
  const entityUnion = schema.getType('_Entity');
  if (!field?.resolve || !isUnionType(entityUnion)) return schema;
  const entityTypes = new Set(entityUnion.getTypes().map((type) => type.name));
  const resolve = field.resolve;
  field.resolve = (source, args: { representations: unknown[] }, context, info) => {
    const problems = args.representations.map((representation) => problemWith(representation, entityTypes));
    const good = args.representations.filter((_, index) => problems[index] === null);
    const resolved =
      good.length > 0 ? (resolve(source, { ...args, representations: good }, context, info) as unknown[]) : [];
    let next = 0;
    return problems.map((problem, index) =>
      problem === null
        ? resolved[next++]
        : // An Error as a list item: graphql-js answers null in that slot, with this error at its path.
          new GraphQLError(`Representation ${index} of _entities is invalid: ${problem}`, {
            extensions: { code: 'VALIDATION' },
          }),
    );
  };
  return schema;
}

/**
 * `_entities` needs the `viewer` scope, as every `Query` field does. It is not a Pothos field (the
 * federation library adds it), so the query type's `authScopes` do not reach it, and the entity
 * types carry no scopes of their own (builder.ts): this check is what guards every object read
 * through it. Refused as scope-auth refuses the other `Query` fields (`FORBIDDEN`, same message).
 */
export function authorizeEntities(schema: GraphQLSchema): GraphQLSchema {
  const field = schema.getQueryType()?.getFields()._entities;
  if (!field?.resolve) return schema;
  const resolve = field.resolve;
  field.resolve = (source, args, context: GraphQLContext, info) => {
    if (!grants.viewer(context.caller)) throw forbidden(`Not authorized to read fields for ${info.parentType.name}`);
    return resolve(source, args, context, info);
  };
  return schema;
}
