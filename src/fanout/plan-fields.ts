// The leaf fields of a subscription's plan (event-plan.ts) and how one is resolved and serialized,
// as graphql-js would: shared by the plan's two ways of writing a result (an object, or the
// frame's text spliced from a row: row-splice.ts).
import type { GraphQLLeafType, GraphQLResolveInfo } from 'graphql';
import type { RowColumn } from '../row-text.js';

/**
 * The resolve info graphql-js gives a resolver (its `buildResolveInfo`), its `rootValue` the event
 * being executed (set before each use: resolvers read it synchronously, an asynchronous one sends
 * the event to graphql-js).
 */
type InfoKey =
  | 'fieldName'
  | 'fieldNodes'
  | 'returnType'
  | 'parentType'
  | 'path'
  | 'schema'
  | 'fragments'
  | 'rootValue'
  | 'operation'
  | 'variableValues';
export type Info = { -readonly [K in InfoKey]: GraphQLResolveInfo[K] };
export type Resolver = (source: unknown, args: Record<string, unknown>, context: unknown, info: Info) => unknown;

export interface LeafField {
  responseName: string;
  resolve: Resolver;
  args: Record<string, unknown>;
  info: Info;
  type: GraphQLLeafType;
  nonNull: boolean;
  /** Declared by the schema: the field is this element of its source's row (row-text.ts). */
  column: RowColumn | undefined;
}

/** A field's value off the plain path: the event goes to graphql-js. */
export const OFF_PATH: unique symbol = Symbol('off the plan');

/** The field's serialized value for `source` (null included), or OFF_PATH. */
export function leafValue(field: LeafField, source: unknown, payload: unknown, context: unknown): unknown {
  field.info.rootValue = payload;
  const value = field.resolve(source, field.args, context, field.info);
  if (value === null || value === undefined) return field.nonNull ? OFF_PATH : null;
  if (value instanceof Error || isThenable(value)) return OFF_PATH;
  const serialized = field.type.serialize(value);
  return serialized === null || serialized === undefined ? OFF_PATH : serialized;
}

export function isThenable(value: unknown): boolean {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
