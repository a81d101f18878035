import { encodeChangeCursor } from '../domain/cursor.js';
import type { RecordingAssetRecord } from '../domain/types.js';
import { builder } from './builder.js';
import { idempotencyScope } from './context.js';
import { ProviderEnum, RecordingStatusEnum, VideoInput } from './enums.js';
import { mutationErrors } from './errors.js';
import { StatusEventRef } from './history.js';
import { DEFAULT_HISTORY_LENGTH, decodeCursor, historyLength, pageSize, toConnection } from './pagination.js';
import { RecordingRef } from './refs.js';
import { watchStreams } from './watch.js';

const RecordingAssetRef = builder.objectRef<RecordingAssetRecord>('RecordingAsset').implement({
  description: 'A file a recording produced.',
  fields: (t) => ({
    id: t.exposeID('id'),
    type: t.exposeString('type'),
    path: t.exposeString('path', { nullable: true }),
    size: t.exposeFloat('size', { nullable: true, description: 'Bytes.' }),
    durationSeconds: t.exposeFloat('durationSeconds', { nullable: true }),
    url: t.string({
      nullable: true,
      description: 'Download URL, possibly pre-signed; an expired pre-signed URL is renewed when read.',
      resolve: async (a, _args, ctx) => (await ctx.assets.download(a)).url,
    }),
    urlExpiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      resolve: async (a, _args, ctx) => (await ctx.assets.download(a)).urlExpiresAt,
    }),
  }),
});

RecordingRef.implement({
  description: 'A recording of one room on one provider.',
  // Entities are also reached through `_entities`, which no root-type scope covers. Checked once
  // per object (not per field): subscriptions resolve these for every subscriber of every change.
  authScopes: { viewer: true },
  runScopesOnType: true,
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Our id.' }),
    provider: t.field({ type: ProviderEnum, resolve: (s) => s.provider }),
    roomId: t.exposeString('roomId'),
    externalId: t.exposeString('externalId', { nullable: true, description: "The vendor's id for it." }),
    status: t.field({ type: RecordingStatusEnum, resolve: (s) => s.status }),
    vendorStatus: t.exposeString('vendorStatus', { nullable: true }),
    version: t.exposeInt('version'),
    failureReason: t.exposeString('failureReason', { nullable: true }),
    startedAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.startedAt }),
    stoppedAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.stoppedAt }),
    createdAt: t.field({ type: 'DateTime', resolve: (s) => s.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (s) => s.updatedAt }),
    changeCursor: t.string({
      description: 'Opaque position of this state in the change log: pass it as `after` to resume from it.',
      resolve: (s) => encodeChangeCursor(s.changePosition),
    }),
    assets: t.field({
      type: [RecordingAssetRef],
      resolve: (s, _args, ctx) => ctx.loaders.assets.load(s.id),
    }),
    history: t.field({
      type: [StatusEventRef],
      description: 'The latest events, oldest first: `last` of them (0 to 1000).',
      args: { last: t.arg.int({ defaultValue: DEFAULT_HISTORY_LENGTH }) },
      resolve: (s, { last }, ctx) => ctx.loaders.history('recording', historyLength(last)).load(s.id),
    }),
  }),
});

builder.asEntity(RecordingRef, {
  key: builder.selection<{ id: string }>('id'),
  resolveReference: (ref, ctx) => ctx.loaders.recording.load(ref.id),
});

const RecordingConnection = builder.connectionObject(
  { type: RecordingRef, name: 'RecordingConnection' },
  { name: 'RecordingEdge' },
);

const StartRecordingInput = builder.inputType('StartRecordingInput', {
  fields: (t) => ({
    provider: t.field({ type: ProviderEnum, description: 'Default: DEFAULT_PROVIDER.' }),
    roomId: t.string({ required: true }),
    meetingUrl: t.string(),
    resolution: t.field({ type: VideoInput }),
    audioOnly: t.boolean(),
    idempotencyKey: t.string({ description: 'Same key → same recording, no second vendor call.' }),
  }),
});

const StopRecordingInput = builder.inputType('StopRecordingInput', {
  fields: (t) => ({ id: t.id({ required: true }) }),
});

builder.queryFields((t) => ({
  recording: t.field({
    type: RecordingRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.loaders.recording.load(String(id)),
  }),
  activeRecordings: t.field({
    type: [RecordingRef],
    description: 'Recordings that are STARTING, RECORDING, PAUSED or STOPPING.',
    args: { provider: t.arg({ type: ProviderEnum }), roomId: t.arg.string() },
    resolve: (_root, args, ctx) => ctx.store.streams.listActive('recording', args),
  }),
  recordings: t.field({
    type: RecordingConnection,
    description: 'Every recording, newest first.',
    args: {
      first: t.arg.int(),
      after: t.arg.string(),
      provider: t.arg({ type: ProviderEnum }),
      roomId: t.arg.string(),
      status: t.arg({ type: RecordingStatusEnum }),
    },
    resolve: async (_root, args, ctx) => {
      const first = pageSize(args.first);
      return toConnection(
        await ctx.store.streams.page('recording', { ...args, first, after: decodeCursor(args.after) }),
        first,
      );
    },
  }),
}));

builder.mutationFields((t) => ({
  startRecording: t.field({
    type: RecordingRef,
    args: { input: t.arg({ type: StartRecordingInput, required: true }) },
    errors: mutationErrors('StartRecording', 'recording'),
    resolve: (_root, { input }, ctx) => ctx.streams.startRecording(input, idempotencyScope(ctx.caller)),
  }),
  stopRecording: t.field({
    type: RecordingRef,
    args: { input: t.arg({ type: StopRecordingInput, required: true }) },
    errors: mutationErrors('StopRecording', 'recording'),
    resolve: (_root, { input }, ctx) => ctx.streams.stopRecording(String(input.id)),
  }),
}));

builder.subscriptionFields((t) => ({
  recordingChanged: t.field({
    type: RecordingRef,
    description:
      'With id: the current state first, then every change; completes after a final state. ' +
      "Without id: every change that matches the filters, a recording's creation included.",
    args: {
      id: t.arg.id(),
      provider: t.arg({ type: ProviderEnum }),
      roomId: t.arg.string(),
      after: t.arg.string({
        description: 'A changeCursor: no snapshot; every matching change committed after it, in order, then live ones.',
      }),
    },
    subscribe: (_root, args, ctx) =>
      watchStreams(ctx, 'recording', { ...args, id: args.id == null ? null : String(args.id) }),
    resolve: (stream) => stream,
  }),
}));
