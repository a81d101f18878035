import { isActive } from '../domain/status.js';
import type { RoomAutomationRecord } from '../domain/types.js';
import { builder } from './builder.js';
import { ProviderEnum, RecordTriggerEnum } from './enums.js';
import { mutationErrors } from './errors.js';
import { LivestreamRef, RecordingRef, RoomRef } from './refs.js';

const RoomAutomationRef = builder.objectRef<RoomAutomationRecord>('RoomAutomation').implement({
  description: 'When to record a room automatically.',
  fields: (t) => ({
    provider: t.field({ type: ProviderEnum, resolve: (rule) => rule.provider }),
    roomId: t.exposeString('roomId'),
    recordOn: t.field({ type: RecordTriggerEnum, resolve: (rule) => rule.recordOn }),
    stopWhenEmpty: t.exposeBoolean('stopWhenEmpty'),
    meetingUrl: t.exposeString('meetingUrl', {
      nullable: true,
      description: 'The page an automated browser-composite recording opens (100ms meeting_url).',
    }),
  }),
});

RoomRef.implement({
  description: "A vendor's room, meeting or session; its id is the vendor's.",
  // No scopes of its own: the root fields' and `_entities`' guard it (builder.ts).
  fields: (t) => ({
    id: t.exposeID('id'),
    activeLivestream: t.field({
      type: LivestreamRef,
      nullable: true,
      resolve: async (room, _args, ctx) =>
        (await ctx.loaders.roomLivestreams.load(room.id)).find((s) => isActive('livestream', s.status)) ?? null,
    }),
    livestreams: t.field({
      type: [LivestreamRef],
      resolve: (room, _args, ctx) => ctx.loaders.roomLivestreams.load(room.id),
    }),
    activeRecording: t.field({
      type: RecordingRef,
      nullable: true,
      resolve: async (room, _args, ctx) =>
        (await ctx.loaders.roomRecordings.load(room.id)).find((s) => isActive('recording', s.status)) ?? null,
    }),
    recordings: t.field({
      type: [RecordingRef],
      resolve: (room, _args, ctx) => ctx.loaders.roomRecordings.load(room.id),
    }),
    automation: t.field({
      type: RoomAutomationRef,
      nullable: true,
      description: 'The recording automation rule, if any.',
      resolve: async (room, _args, ctx) => (await ctx.loaders.roomAutomation.load(room.id))[0] ?? null,
    }),
  }),
});

builder.asEntity(RoomRef, {
  key: builder.selection<{ id: string }>('id'),
  // Every vendor room id names a Room; what it holds is loaded per field, batched.
  resolveReference: (ref) => ({ id: ref.id }),
});

const RoomAutomationInput = builder.inputType('RoomAutomationInput', {
  fields: (t) => ({
    provider: t.field({ type: ProviderEnum, description: 'Default: DEFAULT_PROVIDER.' }),
    roomId: t.string({ required: true }),
    recordOn: t.field({ type: RecordTriggerEnum, required: true }),
    stopWhenEmpty: t.boolean({ description: 'Stop the recording as soon as the last peer leaves. Default: false.' }),
    meetingUrl: t.string({
      description: 'The page an automated recording opens (100ms needs one for browser-composite recordings).',
    }),
  }),
});

builder.mutationFields((t) => ({
  setRoomAutomation: t.field({
    type: RoomAutomationRef,
    args: { input: t.arg({ type: RoomAutomationInput, required: true }) },
    errors: mutationErrors('SetRoomAutomation', 'automation'),
    resolve: (_root, { input }, ctx) => ctx.automation.setRule(input),
  }),
}));
