import type { LivestreamRecord } from '../domain/types.js';
import { builder, grants } from './builder.js';
import { LivestreamStatusEnum, ProviderEnum, VideoInput } from './enums.js';
import { LivestreamRef } from './refs.js';
import { column, streamFields, streamOperations } from './stream-api.js';

const IngestRef = builder.objectRef<LivestreamRecord>('Ingest').implement({
  description: 'Where to send media for the livestream, where the vendor gives it.',
  fields: (t) => ({
    rtmpUrl: t.exposeString('ingestRtmpUrl', { nullable: true }),
    streamKey: t.string({
      nullable: true,
      description: 'Secret: shown to hosts only (null for anyone else).',
      // The `host` scope, asked directly: as a field scope, scope-auth ran its steps (a cache
      // lookup and a promise-aware wrapper) for every livestream of a list.
      resolve: (s, _args, ctx) => (grants.host(ctx.caller) ? s.ingestStreamKey : null),
    }),
    whipUrl: t.exposeString('ingestWhipUrl', { nullable: true }),
  }),
});

LivestreamRef.implement({
  description: 'A livestream of one room on one provider.',
  // No scopes of its own: the root fields' and `_entities`' guard it (builder.ts).
  fields: (t) =>
    streamFields(t, 'livestream', LivestreamStatusEnum, {
      afterVersion: {
        playbackUrl: t.string({ nullable: true, ...column('playbackUrl', (s: LivestreamRecord) => s.playbackUrl) }),
        ingest: t.field({
          type: IngestRef,
          nullable: true,
          resolve: (s) => (s.ingestRtmpUrl || s.ingestStreamKey || s.ingestWhipUrl ? s : null),
        }),
      },
    }),
});

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

streamOperations({
  kind: 'livestream',
  typeName: 'Livestream',
  field: 'livestream',
  plural: 'livestreams',
  ref: LivestreamRef,
  statusEnum: LivestreamStatusEnum,
  activeDescription: 'Livestreams that are STARTING, LIVE or STOPPING.',
  startInput: StartLivestreamInput,
  start: (ctx, input, scope) => ctx.streams.startLivestream(input as never, scope),
  stop: (ctx, id) => ctx.streams.stopLivestream(id),
});
