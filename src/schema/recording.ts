import type { RecordingAssetRecord } from '../domain/types.js';
import { builder } from './builder.js';
import { ProviderEnum, RecordingStatusEnum, VideoInput } from './enums.js';
import { RecordingRef } from './refs.js';
import { streamFields, streamOperations } from './stream-api.js';

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
  // No scopes of its own: the root fields' and `_entities`' guard it (builder.ts).
  fields: (t) =>
    streamFields(t, 'recording', RecordingStatusEnum, {
      beforeHistory: {
        assets: t.field({
          type: [RecordingAssetRef],
          resolve: (s, _args, ctx) => ctx.loaders.assets.load(s.id),
        }),
      },
    }),
});

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

streamOperations({
  kind: 'recording',
  typeName: 'Recording',
  field: 'recording',
  plural: 'recordings',
  ref: RecordingRef,
  statusEnum: RecordingStatusEnum,
  activeDescription: 'Recordings that are STARTING, RECORDING, PAUSED or STOPPING.',
  startInput: StartRecordingInput,
  start: (ctx, input, scope) => ctx.streams.startRecording(input as never, scope),
  stop: (ctx, id) => ctx.streams.stopRecording(id),
});
