import { printSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLSchema } from 'graphql';
import { authorizeEntities, judgeEntityRepresentations } from './entities.js';
import './enums.js';
import './errors.js';
import './history.js';
import './livestream.js';
import './recording.js';
import './room.js';
import './provider.js';
import { toSubgraphSchema } from './subgraph.js';

export function buildSchema(): GraphQLSchema {
  const schema = toSubgraphSchema('https://specs.apollo.dev/federation/v2.6', ['@key']);
  // Authorised first: a refused caller learns nothing of its representations' validity.
  return authorizeEntities(judgeEntityRepresentations(schema));
}

let cached: GraphQLSchema | undefined;

/** The subgraph schema, built once per process. */
export function getSchema(): GraphQLSchema {
  cached ??= buildSchema();
  return cached;
}

/** The SDL the router composes, as committed in `schema.graphql`. */
export function printSchema(schema: GraphQLSchema = getSchema()): string {
  return `${printSubgraphSchema(schema).trim()}\n`;
}
