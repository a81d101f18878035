import { encodeChangeCursor } from '../domain/cursor.js';
import type { LivestreamRecord } from '../domain/types.js';
import { builder } from './builder.js';
import { idempotencyScope } from './context.js';
import { LivestreamStatusEnum, ProviderEnum, VideoInput } from './enums.js';
import { mutationErrors } from './errors.js';
import { StatusEventRef } from './history.js';
import { DEFAULT_HISTORY_LENGTH, decodeCursor, historyLength, pageSize, toConnection } from './pagination.js';
import { LivestreamRef } from './refs.js';
import { watchStreams } from './watch.js';

const IngestRef = builder.objectRef<LivestreamRecord>('Ingest').implement({
  description: 'Where to send media for the livestream, where the vendor gives it.',
  fields: (t) => ({
    rtmpUrl: t.exposeString('ingestRtmpUrl', { nullable: true }),
    streamKey: t.exposeString('ingestStreamKey', {
      nullable: true,
      description: 'Secret: shown to hosts only (null for anyone else).',
      authScopes: { host: true },
      unauthorizedResolver: () => null,
    }),
    whipUrl: t.exposeString('ingestWhipUrl', { nullable: true }),
  }),
});

LivestreamRef.implement({
  description: 'A livestream of one room on one provider.',
  // Entities are also reached through `_entities`, which no root-type scope covers. Checked once
  // per object (not per field): subscriptions resolve these for every subscriber of every change.
  authScopes: { viewer: true },
  runScopesOnType: true,
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Our id.' }),
    provider: t.field({ type: ProviderEnum, resolve: (s) => s.provider }),
    roomId: t.exposeString('roomId'),
    externalId: t.exposeString('externalId', { nullable: true, description: "The vendor's id for it." }),
    status: t.field({ type: LivestreamStatusEnum, resolve: (s) => s.status }),
    vendorStatus: t.exposeString('vendorStatus', { nullable: true }),
    version: t.exposeInt('version'),
    playbackUrl: t.exposeString('playbackUrl', { nullable: true }),
    ingest: t.field({
      type: IngestRef,
      nullable: true,
      resolve: (s) => (s.ingestRtmpUrl || s.ingestStreamKey || s.ingestWhipUrl ? s : null),
    }),
    failureReason: t.exposeString('failureReason', { nullable: true }),
    startedAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.startedAt }),
    stoppedAt: t.field({ type: 'DateTime', nullable: true, resolve: (s) => s.stoppedAt }),
    createdAt: t.field({ type: 'DateTime', resolve: (s) => s.createdAt }),
    updatedAt: t.field({ type: 'DateTime', resolve: (s) => s.updatedAt }),
    changeCursor: t.string({
      description: 'Opaque position of this state in the change log: pass it as `after` to resume from it.',
      resolve: (s) => encodeChangeCursor(s.changePosition),
    }),
    history: t.field({
      type: [StatusEventRef],
      description: 'The latest events, oldest first: `last` of them (0 to 1000).',
      args: { last: t.arg.int({ defaultValue: DEFAULT_HISTORY_LENGTH }) },
      resolve: (s, { last }, ctx) => ctx.loaders.history('livestream', historyLength(last)).load(s.id),
    }),
  }),
});

builder.asEntity(LivestreamRef, {
  key: builder.selection<{ id: string }>('id'),
  resolveReference: (ref, ctx) => ctx.loaders.livestream.load(ref.id),
});

const LivestreamConnection = builder.connectionObject(
  { type: LivestreamRef, name: 'LivestreamConnection' },
  { name: 'LivestreamEdge' },
);

const LivestreamRecordingInput = builder.inputType('LivestreamRecordingInput', {
  fields: (t) => ({
    hlsVod: t.boolean(),
    singleFilePerLayer: t.boolean(),
  }),
});

const StartLivestreamInput = builder.inputType('StartLivestreamInput', {
  fields: (t) => ({
    provider: t.field({ type: ProviderEnum, description: 'Default: DEFAULT_PROVIDER.' }),
    roomId: t.string({
      required: true,
      description: '100ms room / RealtimeKit or Dyte meeting / Tenbyte session / LiveKit room.',
    }),
    meetingUrl: t.string({ description: '100ms; LiveKit custom layout URL.' }),
    recording: t.field({ type: LivestreamRecordingInput, description: '100ms.' }),
    destination: t.string({ description: '100ms.' }),
    name: t.string({ description: 'RealtimeKit, Dyte.' }),
    video: t.field({ type: VideoInput }),
    idempotencyKey: t.string({ description: 'Same key → same stream, no second vendor call.' }),
  }),
});

const StopLivestreamInput = builder.inputType('StopLivestreamInput', {
  fields: (t) => ({ id: t.id({ required: true }) }),
});

builder.queryFields((t) => ({
  livestream: t.field({
    type: LivestreamRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => ctx.loaders.livestream.load(String(id)),
  }),
  activeLivestreams: t.field({
    type: [LivestreamRef],
    description: 'Livestreams that are STARTING, LIVE or STOPPING.',
    args: { provider: t.arg({ type: ProviderEnum }), roomId: t.arg.string() },
    resolve: (_root, args, ctx) => ctx.store.streams.listActive('livestream', args),
  }),
  livestreams: t.field({
    type: LivestreamConnection,
    description: 'Every livestream, newest first.',
    args: {
      first: t.arg.int(),
      after: t.arg.string(),
      provider: t.arg({ type: ProviderEnum }),
      roomId: t.arg.string(),
      status: t.arg({ type: LivestreamStatusEnum }),
    },
    resolve: async (_root, args, ctx) => {
      const first = pageSize(args.first);
      return toConnection(
        await ctx.store.streams.page('livestream', { ...args, first, after: decodeCursor(args.after) }),
        first,
      );
    },
  }),
}));

builder.mutationFields((t) => ({
  startLivestream: t.field({
    type: LivestreamRef,
    args: { input: t.arg({ type: StartLivestreamInput, required: true }) },
    errors: mutationErrors('StartLivestream', 'livestream'),
    resolve: (_root, { input }, ctx) => ctx.streams.startLivestream(input, idempotencyScope(ctx.caller)),
  }),
  stopLivestream: t.field({
    type: LivestreamRef,
    args: { input: t.arg({ type: StopLivestreamInput, required: true }) },
    errors: mutationErrors('StopLivestream', 'livestream'),
    resolve: (_root, { input }, ctx) => ctx.streams.stopLivestream(String(input.id)),
  }),
}));

builder.subscriptionFields((t) => ({
  livestreamChanged: t.field({
    type: LivestreamRef,
    description:
      'With id: the current state first, then every change; completes after a final state. ' +
      "Without id: every change that matches the filters, a stream's creation included.",
    args: {
      id: t.arg.id(),
      provider: t.arg({ type: ProviderEnum }),
      roomId: t.arg.string(),
      after: t.arg.string({
        description: 'A changeCursor: no snapshot; every matching change committed after it, in order, then live ones.',
      }),
    },
    subscribe: (_root, args, ctx) =>
      watchStreams(ctx, 'livestream', { ...args, id: args.id == null ? null : String(args.id) }),
    resolve: (stream) => stream,
  }),
}));
