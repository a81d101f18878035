import type { EnumRef, InputObjectRef, ObjectRef } from '@pothos/core';
import { encodeChangeCursor } from '../domain/cursor.js';
import type { StreamKind } from '../domain/status.js';
import type { RecordOf, StreamRecord } from '../domain/types.js';
import { ROW_COLUMN, type RowColumn } from '../row-text.js';
import { ROW_FIELDS, ROW_TIMES } from '../store/rows.js';
import { builder } from './builder.js';
import { type GraphQLContext, idempotencyScope } from './context.js';
import { ProviderEnum } from './enums.js';
import { mutationErrors } from './errors.js';
import { StatusEventRef } from './history.js';
import { DEFAULT_HISTORY_LENGTH, decodeCursor, historyLength, pageSize, toConnection } from './pagination.js';
import { watchStreams } from './watch.js';

type SchemaTypes = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

/**
 * What differs between the livestream and the recording API: their names, types and service
 * calls. The fields and operations both kinds share are declared once, here.
 */
export interface StreamApi<K extends StreamKind> {
  kind: K;
  /** `Livestream` / `Recording`: the prefix of every name below. */
  typeName: string;
  /** `livestream` / `recording`: single query field, success payload field. */
  field: string;
  /** Plural query field (`livestreams`) and the active list's (`activeLivestreams`). */
  plural: string;
  ref: ObjectRef<SchemaTypes, RecordOf<K>>;
  statusEnum: EnumRef<SchemaTypes, string, string>;
  activeDescription: string;
  startInput: InputObjectRef<SchemaTypes, Record<string, unknown>>;
  start(ctx: GraphQLContext, input: Record<string, unknown>, scope: string | null): Promise<RecordOf<K>>;
  stop(ctx: GraphQLContext, id: string): Promise<RecordOf<K>>;
}

/**
 * A stream type's fields: the ones every stream has, declared once, with the kind's own ones
 * placed where the schema has always shown them (`afterVersion`, `beforeHistory`).
 */
export function streamFields<K extends StreamKind, Own extends object>(
  t: PothosSchemaTypes.ObjectFieldBuilder<SchemaTypes, RecordOf<K>>,
  kind: K,
  statusEnum: EnumRef<SchemaTypes, string, string>,
  own: { afterVersion?: Own; beforeHistory?: Own },
) {
  const record = (s: RecordOf<K>): StreamRecord => s;
  return {
    id: t.id({ description: 'Our id.', ...column('id', (s: StreamRecord) => s.id) }),
    provider: t.field({ type: ProviderEnum, ...column('provider', (s: StreamRecord) => s.provider) }),
    roomId: t.string(column('roomId', (s: StreamRecord) => s.roomId)),
    externalId: t.string({
      nullable: true,
      description: "The vendor's id for it.",
      ...column('externalId', (s: StreamRecord) => s.externalId),
    }),
    status: t.field({ type: statusEnum, ...column('status', (s: StreamRecord) => s.status) }),
    vendorStatus: t.string({ nullable: true, ...column('vendorStatus', (s: StreamRecord) => s.vendorStatus) }),
    version: t.int(column('version', (s: StreamRecord) => s.version)),
    ...own.afterVersion,
    failureReason: t.string({ nullable: true, ...column('failureReason', (s: StreamRecord) => s.failureReason) }),
    startedAt: t.field({ type: 'DateTime', nullable: true, ...column('startedAt', (s: StreamRecord) => s.startedAt) }),
    stoppedAt: t.field({ type: 'DateTime', nullable: true, ...column('stoppedAt', (s: StreamRecord) => s.stoppedAt) }),
    createdAt: t.field({ type: 'DateTime', ...column('createdAt', (s: StreamRecord) => s.createdAt) }),
    updatedAt: t.field({ type: 'DateTime', ...column('updatedAt', (s: StreamRecord) => s.updatedAt) }),
    changeCursor: t.string({
      description: 'Opaque position of this state in the change log: pass it as `after` to resume from it.',
      // The state shown is also the state at any later position without a change of it: a cursor
      // of a stream idle since before what retention pruned is given at the pruned position.
      resolve: (s, _args, ctx) => {
        const position = record(s).changePosition;
        const pruned = ctx.loaders.prunedThrough();
        return typeof pruned === 'number'
          ? encodeChangeCursor(Math.max(position, pruned))
          : pruned.then((through) => encodeChangeCursor(Math.max(position, through)));
      },
    }),
    ...own.beforeHistory,
    history: t.field({
      type: [StatusEventRef],
      description: 'The latest events, oldest first: `last` of them (0 to 1000).',
      args: { last: t.arg.int({ defaultValue: DEFAULT_HISTORY_LENGTH }) },
      resolve: (s, { last }, ctx) => ctx.loaders.history(kind, historyLength(last)).load(record(s).id),
    }),
  };
}

/** Fields of a record its snapshot holds as they are (not the position, nor the ingest stream key). */
type ColumnField = Exclude<(typeof ROW_FIELDS)[number], 'changePosition' | 'ingestStreamKey'>;

/**
 * A field whose value is the record's `field`, as `resolve` answers it, declared that element of
 * the record's row (row-text.ts) so that a replayed change's frame may take it from the snapshot's
 * text as it is (fanout/row-splice.ts). test/store-changelog-rows.test.ts checks each declared
 * field's resolver against its row element. (One resolver per field, not one made here for all:
 * a property read shared by every field would be megamorphic, and queries read these too.)
 */
export function column<F extends ColumnField, S, V>(field: F, resolve: (s: S) => V) {
  const declared: RowColumn = { index: ROW_FIELDS.indexOf(field) };
  if (ROW_TIMES.has(field)) declared.time = true;
  return { resolve, extensions: { [ROW_COLUMN]: declared } };
}

/** The stream's entity, connection, queries, start/stop mutations and change subscription. */
export function streamOperations<K extends StreamKind>(api: StreamApi<K>): void {
  const { kind, typeName } = api;
  // Typed as the shared record: Pothos cannot resolve its result types over a generic kind.
  const ref = api.ref as unknown as ObjectRef<SchemaTypes, StreamRecord>;
  const start = api.start as (...args: Parameters<StreamApi<K>['start']>) => Promise<StreamRecord>;
  const stop = api.stop as (...args: Parameters<StreamApi<K>['stop']>) => Promise<StreamRecord>;
  builder.asEntity(ref, {
    key: builder.selection<{ id: string }>('id'),
    resolveReference: (reference, ctx) => load(ctx, kind, reference.id),
  });
  const connection = builder.connectionObject(
    { type: ref, name: `${typeName}Connection` },
    { name: `${typeName}Edge` },
  );
  const stopInput = builder.inputType(`Stop${typeName}Input`, {
    fields: (t) => ({ id: t.id({ required: true }) }),
  });

  builder.queryFields((t) => ({
    [api.field]: t.field({
      type: ref,
      nullable: true,
      args: { id: t.arg.id({ required: true }) },
      resolve: (_root, { id }, ctx) => load(ctx, kind, String(id)),
    }),
    [`active${typeName}s`]: t.field({
      type: [ref],
      description: api.activeDescription,
      args: { provider: t.arg({ type: ProviderEnum }), roomId: t.arg.string() },
      resolve: (_root, args, ctx) => ctx.store.streams.listActive(kind, args),
    }),
    [api.plural]: t.field({
      type: connection,
      description: `Every ${api.field}, newest first.`,
      args: {
        first: t.arg.int(),
        after: t.arg.string(),
        provider: t.arg({ type: ProviderEnum }),
        roomId: t.arg.string(),
        status: t.arg({ type: api.statusEnum }),
      },
      resolve: async (_root, args, ctx) => {
        const first = pageSize(args.first);
        return toConnection(
          await ctx.store.streams.page(kind, { ...args, first, after: decodeCursor(args.after) }),
          first,
        );
      },
    }),
  }));

  builder.mutationFields((t) => ({
    [`start${typeName}`]: t.field({
      type: ref,
      args: { input: t.arg({ type: api.startInput, required: true }) },
      errors: mutationErrors(`Start${typeName}`, api.field),
      resolve: (_root, { input }, ctx) => start(ctx, input, idempotencyScope(ctx.caller)),
    }),
    [`stop${typeName}`]: t.field({
      type: ref,
      args: { input: t.arg({ type: stopInput, required: true }) },
      errors: mutationErrors(`Stop${typeName}`, api.field),
      resolve: (_root, { input }, ctx) => stop(ctx, String(input.id)),
    }),
  }));

  builder.subscriptionFields((t) => ({
    [`${api.field}Changed`]: t.field({
      type: ref,
      description:
        'With id: the current state first, then every change; completes after a final state. ' +
        `Without id: every change that matches the filters, a ${kind === 'livestream' ? 'stream' : kind}'s creation included.`,
      args: {
        id: t.arg.id(),
        provider: t.arg({ type: ProviderEnum }),
        roomId: t.arg.string(),
        after: t.arg.string({
          description:
            'A changeCursor: no snapshot; every matching change committed after it, in order, then live ones.',
        }),
      },
      subscribe: (_root, args, ctx) =>
        watchStreams(ctx, kind, { ...args, id: args.id == null ? null : String(args.id) }) as Promise<
          AsyncIterable<StreamRecord>
        >,
      resolve: (stream) => stream,
    }),
  }));
}

function load(ctx: GraphQLContext, kind: StreamKind, id: string): Promise<StreamRecord | null | undefined> {
  return ctx.loaders[kind].load(id);
}
