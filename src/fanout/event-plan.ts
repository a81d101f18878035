// A subscription event's selection executed without graphql-js' general machinery, for the common
// shape: one root field whose selection is only leaf fields (scalars, enums, `__typename`),
// without arguments, directives or fragments, such as `livestreamChanged(…) { id status version
// changeCursor }`. graphql-js' `execute` builds its context for every event (variables coerced,
// the root field's arguments read again, fields collected, a path and an info per field, each
// value completed through the general type checks): for a replay of 100,000 changes that was a
// third of the service's time (bench/README.md, "Catch-up", 2026-12-05 session). A plan is made
// once per group of identical subscriptions (subscription-execution.ts), at the first event one
// of them executes, and calls the same resolvers (the schema's plugins'
// wrappers included) with the same arguments, context and resolve info, and serializes each
// value with its type, as `execute` does. Anything off the plain path (a promise, an error, a
// null where the type forbids it, a value the type refuses) answers `undefined`: the event is then
// executed by graphql-js, which gives the very result and errors it always did. A change replayed
// from the log (its record still its snapshot's text) is written as text where the schema declares
// the selected fields to be elements of that row: the splice path, row-splice.ts.
import {
  defaultFieldResolver,
  type ExecutionArgs,
  type ExecutionResult,
  type FieldNode,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLResolveInfo,
  getArgumentValues,
  getVariableValues,
  isLeafType,
  isNonNullType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  TypeNameMetaFieldDef,
} from 'graphql';
import { ROW_COLUMN, type RowColumn, rowTextOf } from '../row-text.js';
import { type Info, isThenable, type LeafField, leafValue, OFF_PATH, type Resolver } from './plan-fields.js';
import { resultOfText } from './result-text.js';
import { RowSplice } from './row-splice.js';

export class EventPlan {
  private constructor(
    private readonly rootName: string,
    private readonly rootResolve: Resolver,
    private readonly rootArgs: Record<string, unknown>,
    private readonly rootInfo: Info,
    private readonly objectType: GraphQLObjectType,
    private readonly fields: readonly LeafField[],
    /** Fields the schema declares row elements: a replayed change's text spliced (row-splice.ts). */
    private readonly splice: RowSplice | null,
  ) {}

  /** The plan of a subscription's operation, or null when it is not of the shape planned for. */
  static of(args: ExecutionArgs, operation: OperationDefinitionNode | null | undefined): EventPlan | null {
    try {
      return EventPlan.make(args, operation);
    } catch {
      return null;
    }
  }

  private static make(args: ExecutionArgs, operation: OperationDefinitionNode | null | undefined): EventPlan | null {
    const { schema } = args;
    const rootType = schema.getSubscriptionType();
    if (operation?.operation !== 'subscription' || !rootType) return null;
    const rootNode = onlyField(operation.selectionSet);
    if (!rootNode?.selectionSet) return null;
    const rootDef = rootType.getFields()[rootNode.name.value];
    if (!rootDef) return null;
    const nullable = isNonNullType(rootDef.type) ? rootDef.type.ofType : rootDef.type;
    if (!isNonNullType(rootDef.type) || !isObjectType(nullable)) return null;
    const variables = getVariableValues(schema, operation.variableDefinitions ?? [], args.variableValues ?? {});
    if (variables.errors) return null;
    const fragments: GraphQLResolveInfo['fragments'] = {};
    for (const definition of args.document.definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
    }
    const base = {
      fragments,
      rootValue: undefined as unknown,
      operation,
      variableValues: variables.coerced,
      schema,
    };
    const rootName = rootNode.alias?.value ?? rootNode.name.value;
    const rootInfo: Info = {
      ...base,
      fieldName: rootDef.name,
      fieldNodes: [rootNode],
      returnType: rootDef.type,
      parentType: rootType,
      path: { prev: undefined, key: rootName, typename: rootType.name },
    };
    const fallback = (args.fieldResolver ?? defaultFieldResolver) as Resolver;
    const fields: LeafField[] = [];
    const names = new Set<string>();
    for (const node of rootNode.selectionSet.selections) {
      if (node.kind !== Kind.FIELD || node.directives?.length || node.arguments?.length || node.selectionSet) {
        return null;
      }
      const responseName = node.alias?.value ?? node.name.value;
      const def: GraphQLField<unknown, unknown> | undefined =
        node.name.value === '__typename' ? TypeNameMetaFieldDef : nullable.getFields()[node.name.value];
      if (!def || names.has(responseName)) return null;
      names.add(responseName);
      const nonNull = isNonNullType(def.type);
      const type: GraphQLOutputType = nonNull ? (def.type as { ofType: GraphQLOutputType }).ofType : def.type;
      if (!isLeafType(type)) return null;
      fields.push({
        responseName,
        resolve: (def.resolve as Resolver | undefined) ?? fallback,
        args: getArgumentValues(def, node, variables.coerced),
        info: {
          ...base,
          fieldName: def.name,
          fieldNodes: [node],
          returnType: def.type,
          parentType: nullable,
          path: { prev: rootInfo.path, key: responseName, typename: nullable.name },
        },
        type,
        nonNull,
        column: rowColumn(def.extensions?.[ROW_COLUMN]),
      });
    }
    const rootArgs = getArgumentValues(rootDef, rootNode, variables.coerced);
    const rootResolve = (rootDef.resolve as Resolver | undefined) ?? fallback;
    return new EventPlan(rootName, rootResolve, rootArgs, rootInfo, nullable, fields, RowSplice.of(rootName, fields));
  }

  /** The event's result, or `undefined` when it is to be executed by graphql-js instead. */
  run(payload: unknown, context: unknown): ExecutionResult | undefined {
    try {
      return this.tryRun(payload, context);
    } catch {
      return undefined;
    }
  }

  private tryRun(payload: unknown, context: unknown): ExecutionResult | undefined {
    const rootInfo = this.rootInfo;
    rootInfo.rootValue = payload;
    const source = this.rootResolve(payload, this.rootArgs, context, rootInfo);
    if (source === null || source === undefined || source instanceof Error || isThenable(source)) return undefined;
    const isTypeOf = this.objectType.isTypeOf;
    if (isTypeOf) {
      const matches = isTypeOf(source, context, rootInfo as GraphQLResolveInfo);
      if (!matches || isThenable(matches)) return undefined;
    }
    // A change read from the log whose fields are its row's elements: its text, spliced.
    const text = this.splice ? rowTextOf(source) : undefined;
    if (text !== undefined) {
      const spliced = this.splice?.write(text, source, payload, context);
      if (spliced !== undefined) return resultOfText(spliced);
    }
    const object: Record<string, unknown> = {};
    for (const field of this.fields) {
      const value = leafValue(field, source, payload, context);
      if (value === OFF_PATH) return undefined;
      object[field.responseName] = value;
    }
    return { data: { [this.rootName]: object } };
  }
}

/** The selection's one field, when it holds exactly one field and nothing else. */
function onlyField(selectionSet: SelectionSetNode): FieldNode | null {
  const [first, ...rest] = selectionSet.selections;
  if (!first || rest.length > 0 || first.kind !== Kind.FIELD || first.directives?.length) return null;
  return first;
}

/** A field's `rowColumn` declaration (row-text.ts), if it has a well-formed one. */
function rowColumn(extension: unknown): RowColumn | undefined {
  const index = (extension as RowColumn | undefined)?.index;
  return typeof index === 'number' && Number.isInteger(index) && index >= 0 ? (extension as RowColumn) : undefined;
}
