import { z } from 'zod';
import { PROVIDERS, RECORD_TRIGGERS } from './status.js';

/**
 * The rules of every client input, written once. The GraphQL input types (src/schema/) name the
 * same fields for the contract; the service parses what it is given with these (`parseInput`),
 * whoever calls it (a mutation, or recording automation).
 */

const text = (max: number) => z.string().trim().min(1, { error: 'must not be empty' }).max(max);
const absoluteUrl = z.url({ error: 'must be an absolute URL' });
const videoSize = z.object({
  width: z.number().int().min(1, { error: 'width must be at least 1' }).max(7680),
  height: z.number().int().min(1, { error: 'height must be at least 1' }).max(7680),
});

/** What every start names: where, on which vendor (default: DEFAULT_PROVIDER), and its idempotency key. */
const startInput = z.object({
  provider: z.enum(PROVIDERS).nullish(),
  roomId: text(256),
  meetingUrl: absoluteUrl.nullish(),
  idempotencyKey: text(256).nullish(),
});

export const startLivestreamInput = startInput.extend({
  recording: z.object({ hlsVod: z.boolean().nullish(), singleFilePerLayer: z.boolean().nullish() }).nullish(),
  destination: text(512).nullish(),
  name: text(256).nullish(),
  video: videoSize.nullish(),
});

export const startRecordingInput = startInput.extend({
  resolution: videoSize.nullish(),
  audioOnly: z.boolean().nullish(),
});

export const roomAutomationInput = z.object({
  provider: z.enum(PROVIDERS),
  roomId: text(256),
  recordOn: z.enum(RECORD_TRIGGERS),
  stopWhenEmpty: z.boolean(),
  meetingUrl: absoluteUrl.nullable(),
});

export type StartLivestreamInput = z.input<typeof startLivestreamInput>;
export type StartRecordingInput = z.input<typeof startRecordingInput>;
