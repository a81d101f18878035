import { z } from 'zod';
import type { LivestreamStatus } from '../../domain/status.js';

/**
 * Tenbyte Webinar's wire contract, in one place, with what is documented kept apart from what is
 * assumed.
 *
 * Documented (seed 003): `POST /sessions/{id}/go_live`, host only, `Authorization: Bearer <token>`,
 * answering `{success, data: {session: {id, room_id, status, mode, hls_url, started_at, ...},
 * livekit_token, rtmp: {ingress_id, url, stream_key}, rtmp_setup, whip_url}, timestamp}`; the only
 * session status shown is `scheduled` (it is what go_live itself answers).
 *
 * Assumed until Tenbyte confirms (so the paths are configurable in src/config.ts as
 * TENBYTE_STATUS_PATH and TENBYTE_STOP_PATH, and everything below is read tolerantly):
 * - `GET /sessions/{id}` answers the same `{success, data: {session}}` shape;
 * - `POST /sessions/{id}/end` ends a session and answers that shape too (a missing session is tolerated);
 * - statuses `live` and `ended` follow `scheduled`; `completed`/`stopped` and `failed`/`error` are
 *   guesses at variants; any other status is unknown and never moves a stream;
 * - errors come as `{success: false, errors: [...]}` or `{success: false, error: {code, message}}`,
 *   and a 2xx with `success: false` is an error as well.
 */

/** Raw session status → our livestream status. Keys are lower case; lookups normalise. */
export const TENBYTE_SESSION_STATUS: Readonly<Record<string, LivestreamStatus>> = {
  // Documented.
  scheduled: 'STARTING',
  // Assumed.
  live: 'LIVE',
  ended: 'STOPPED',
  completed: 'STOPPED',
  stopped: 'STOPPED',
  failed: 'FAILED',
  error: 'FAILED',
};

/** Our status for a raw Tenbyte session status, or null when the status is not one we know. */
export function mapSessionStatus(vendorStatus: string): LivestreamStatus | null {
  return TENBYTE_SESSION_STATUS[vendorStatus.trim().toLowerCase()] ?? null;
}

/** Fills a configured path template (`/sessions/{id}`) with a session id, safely encoded. */
export function sessionPath(template: string, sessionId: string): string {
  return template.replaceAll('{id}', encodeURIComponent(sessionId));
}

export const GO_LIVE_PATH = '/sessions/{id}/go_live';

const nullableText = z.string().nullish().catch(null);

/** The session fields we use; everything else (room, preset, host e-mail) is dropped on parse. */
const sessionSchema = z.object({
  id: z.string().min(1),
  room_id: nullableText,
  status: z.string().min(1),
  hls_url: nullableText,
  started_at: nullableText,
  ended_at: nullableText,
});
export type TenbyteSession = z.infer<typeof sessionSchema>;

/** `data` of a session read or end answer (assumed to match go_live's `data.session`). */
export const sessionAnswerSchema = z.object({
  success: z.boolean().optional(),
  data: z.object({ session: sessionSchema }),
});

/**
 * `data` of a go_live answer. `livekit_token` is deliberately not listed: it is a secret we do not
 * need, and zod drops unlisted keys so it never reaches a stream row (history keeps the answer as
 * sent, with every token and stream key redacted: see `serializePayload` in service/streams.ts).
 */
export const goLiveAnswerSchema = z.object({
  success: z.boolean().optional(),
  data: z.object({
    session: sessionSchema,
    rtmp: z.object({ url: nullableText, stream_key: nullableText }).nullish().catch(null),
    whip_url: nullableText,
  }),
});
export type GoLiveAnswer = z.infer<typeof goLiveAnswerSchema>;

/** True for an answer that carries `success: false`, whatever its HTTP status. */
export function isFailureEnvelope(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body as { success?: unknown }).success === false;
}

function messageOf(item: unknown): string | undefined {
  if (typeof item === 'string') return item || undefined;
  if (typeof item !== 'object' || item === null) return undefined;
  const { message, code } = item as { message?: unknown; code?: unknown };
  if (typeof message === 'string' && message) return message;
  return typeof code === 'string' && code ? code : undefined;
}

/**
 * The vendor's own message from either error envelope (`errors: [...]` or `error: {code, message}`),
 * or a bare `message`. Answers undefined when the body has none.
 */
export function vendorErrorMessage(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { errors, error, message } = body as { errors?: unknown; error?: unknown; message?: unknown };
  if (Array.isArray(errors)) {
    const messages = errors.map(messageOf).filter((m): m is string => m !== undefined);
    if (messages.length > 0) return messages.join('; ');
  }
  return messageOf(error) ?? messageOf(message);
}
