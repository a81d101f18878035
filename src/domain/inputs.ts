import { z } from 'zod';
import { PROVIDERS, RECORD_TRIGGERS } from './status.js';
import { MAX_URL_LENGTH } from './urls.js';

/**
 * The rules of every client input, written once. The GraphQL input types (src/schema/) name the
 * same fields for the contract; the service parses what it is given with these (`parseInput`),
 * whoever calls it (a mutation, or recording automation).
 */

const text = (max: number) => z.string().trim().min(1, { error: 'must not be empty' }).max(max);
const absoluteUrl = z
  .string()
  .max(MAX_URL_LENGTH, { error: `must be at most ${MAX_URL_LENGTH} characters` })
  .pipe(z.url({ error: 'must be an absolute URL' }));

/**
 * Characters no vendor id holds and that make one read as another: controls (NUL included),
 * bidirectional overrides and isolates, zero-width characters and the byte-order mark.
 */
const INVISIBLE = /[\p{Cc}\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/u;

/**
 * A vendor's id for a room, meeting or session: it becomes a path segment of vendor URLs
 * (`encodeURIComponent` keeps dots), so no dot segment and no slash; nothing invisible.
 */
const vendorId = text(256)
  .refine((value) => value !== '.' && value !== '..', { error: 'must not be "." or ".."' })
  .refine((value) => !/[/\\]/.test(value), { error: 'must not contain "/" or "\\"' })
  .refine((value) => !INVISIBLE.test(value), {
    error: 'must not contain control, bidirectional or zero-width characters',
  });
const videoSize = z.object({
  width: z.number().int().min(1, { error: 'width must be at least 1' }).max(7680),
  height: z.number().int().min(1, { error: 'height must be at least 1' }).max(7680),
});

/** What every start names: where, on which vendor (default: DEFAULT_PROVIDER), and its idempotency key. */
const startInput = z.object({
  provider: z.enum(PROVIDERS).nullish(),
  roomId: vendorId,
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
  roomId: vendorId,
  recordOn: z.enum(RECORD_TRIGGERS),
  stopWhenEmpty: z.boolean(),
  meetingUrl: absoluteUrl.nullable(),
});

export type StartLivestreamInput = z.input<typeof startLivestreamInput>;
export type StartRecordingInput = z.input<typeof startRecordingInput>;
