import { printSubgraphSchema } from '@apollo/subgraph';
import { EntityType, entitiesField, serviceField } from '@apollo/subgraph/dist/types.js';
import { hasResolvableKey } from '@pothos/plugin-federation';
import {
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLSchema,
  GraphQLUnionType,
  isObjectType,
  lexicographicSortSchema,
} from 'graphql';
import { builder } from './builder.js';

/**
 * The subgraph schema: what `builder.toSubGraphSchema` of `@pothos/plugin-federation` (4.4)
 * builds (`_entities`, `_service`, the `@link` schema directive, types sorted), except that the
 * SDL `_service { sdl }` answers is printed when first asked for, not while the schema is built.
 * The plugin prints it eagerly with `printSubgraphSchema`, which rebuilds and validates the whole
 * schema as a federation subgraph: about half of building the schema and a tenth of the service's
 * cold start (bench/README.md, issue 17), for a field the router reads once, at composition.
 */
export function toSubgraphSchema(linkUrl: string, federationDirectives: string[]): GraphQLSchema {
  const schema = builder.toSchema({
    extensions: { directives: [{ name: 'link', args: { url: linkUrl, import: federationDirectives } }] },
  });
  const queryType = schema.getQueryType();
  const types = schema.getTypeMap();
  const entityTypes = Object.values(types).filter((type) => isObjectType(type) && hasResolvableKey(type));
  let sorted: GraphQLSchema | undefined;
  let sdl: string | undefined;
  const newQuery: GraphQLObjectType = new GraphQLObjectType({
    name: queryType?.name ?? 'Query',
    description: queryType?.description,
    astNode: queryType?.astNode,
    extensions: queryType?.extensions,
    fields: () => ({
      ...(entityTypes.length > 0 && {
        _entities: {
          ...entitiesField,
          type: new GraphQLNonNull(
            new GraphQLList(
              new GraphQLUnionType({
                ...EntityType.toConfig(),
                types: entityTypes.filter(isObjectType).map((type) => (type === queryType ? newQuery : type)),
              }),
            ),
          ),
        },
      }),
      _service: {
        ...serviceField,
        resolve: () => {
          sdl ??= printSubgraphSchema(sorted as GraphQLSchema);
          return { sdl };
        },
      },
      ...queryType?.toConfig().fields,
    }),
  });
  sorted = lexicographicSortSchema(
    new GraphQLSchema({
      query: newQuery,
      mutation: schema.getMutationType(),
      subscription: schema.getSubscriptionType(),
      extensions: schema.extensions,
      directives: schema.getDirectives(),
      extensionASTNodes: schema.extensionASTNodes,
      types: [...Object.values(types).filter((type) => type.name !== 'Query'), newQuery],
    }),
  );
  return sorted;
}
