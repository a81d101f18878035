import { z } from 'zod';
import { ProviderError } from '../../domain/errors.js';
import type { ProviderId } from '../../domain/status.js';
import { limitsOf, VendorHttpClient, VendorHttpError, type VendorLimits, type VendorRequest } from '../http.js';

/**
 * The REST API Cloudflare RealtimeKit inherited from Dyte v2: same paths below the base URL, same
 * `{success, data}` envelope, same objects. Only the base URL and the credential differ.
 */

export interface RealtimeKitApiOptions extends VendorLimits {
  provider: ProviderId;
  /** Everything before `/meetings`, `/livestreams`, `/recordings`. */
  baseUrl: string;
  /** The whole `Authorization` header value. */
  authorization: string;
  /** Credentials that must never reach an error message, even if the vendor echoes them. */
  secrets: readonly string[];
}

export const optionalText = z.string().nullish();
/** Sizes and durations are documented as numbers; a numeric string is read as one. */
export const optionalNumber = z
  .union([z.number(), z.string()])
  .nullish()
  .transform((value) => {
    if (value === null || value === undefined || value === '') return null;
    const number = Number(value);
    return Number.isFinite(number) ? number : null;
  });

export const vendorLivestreamSchema = z.object({
  id: z.string().min(1),
  status: optionalText,
  name: optionalText,
  meeting_id: optionalText,
  ingest_server: optionalText,
  stream_key: optionalText,
  playback_url: optionalText,
  created_at: optionalText,
  updated_at: optionalText,
});
export type VendorLivestream = z.infer<typeof vendorLivestreamSchema>;

export const vendorRecordingSchema = z.object({
  id: z.string().min(1),
  status: optionalText,
  meeting_id: optionalText,
  session_id: optionalText,
  output_file_name: optionalText,
  invoked_time: optionalText,
  started_time: optionalText,
  stopped_time: optionalText,
  recording_duration: optionalNumber,
  download_url: optionalText,
  download_url_expiry: optionalText,
  audio_download_url: optionalText,
  file_size: optionalNumber,
  stop_reason: optionalText,
});
export type VendorRecording = z.infer<typeof vendorRecordingSchema>;

export interface StartLivestreamBody {
  name?: string;
  video_config?: { height: number; width: number };
}

export interface StartRecordingBody {
  meeting_id: string;
  video_config?: { width: number; height: number };
}

/**
 * The vendor's own object (the envelope's `data`, unknown fields and all) each parsed answer was
 * read from: parsing drops what we do not use, history keeps the answer as it came.
 */
const answers = new WeakMap<object, unknown>();

/** The vendor's answer a livestream or recording of this API was parsed from; undefined for one built otherwise (a webhook's). */
export function vendorAnswer(parsed: VendorLivestream | VendorRecording): unknown {
  return answers.get(parsed);
}

/** What `send` answers for a 404 the caller reads as "none". */
const NOT_FOUND = Symbol('not found');

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function messageOf(item: unknown): string | undefined {
  if (typeof item === 'string') return item.trim() || undefined;
  if (!isRecord(item)) return undefined;
  const message = typeof item.message === 'string' && item.message.trim() ? item.message.trim() : undefined;
  const code = typeof item.code === 'string' || typeof item.code === 'number' ? item.code : undefined;
  if (message) return code === undefined ? message : `${message} (code ${code})`;
  return code === undefined ? undefined : `code ${code}`;
}

/**
 * The vendor's own message from an error answer. The envelope is unconfirmed, so both
 * `{success: false, errors: [...]}` (strings or `{code, message}`) and
 * `{success: false, error: {code, message}}` are read, then a bare `message`.
 */
export function vendorErrorMessage(body: unknown): string | undefined {
  if (typeof body === 'string') return body.trim().slice(0, 300) || undefined;
  if (!isRecord(body)) return undefined;
  const messages: string[] = [];
  if (Array.isArray(body.errors)) {
    for (const item of body.errors) {
      const message = messageOf(item);
      if (message) messages.push(message);
    }
  }
  const single = messageOf(body.error);
  if (single) messages.push(single);
  if (messages.length === 0 && typeof body.message === 'string' && body.message.trim()) {
    messages.push(body.message.trim());
  }
  return messages.length > 0 ? messages.join('; ') : undefined;
}

export class RealtimeKitApi {
  readonly provider: ProviderId;
  private readonly http: VendorHttpClient;

  constructor(private readonly options: RealtimeKitApiOptions) {
    this.provider = options.provider;
    this.http = new VendorHttpClient({
      provider: options.provider,
      baseUrl: options.baseUrl,
      ...limitsOf(options),
      auth: () => ({ authorization: options.authorization }),
      errorMessage: (body) => this.redact(vendorErrorMessage(body)),
    });
  }

  /** Not repeated on an unclear failure: a second start could make a second livestream. */
  async startLivestream(meetingId: string, body: StartLivestreamBody): Promise<VendorLivestream> {
    const data = await this.send({
      method: 'POST',
      path: `/meetings/${encodeURIComponent(meetingId)}/livestreams`,
      body,
      idempotent: false,
    });
    return this.parse(vendorLivestreamSchema, data, 'livestream');
  }

  /** The meeting's active livestream, or null when it has none (404 or an empty answer). */
  async getActiveLivestream(meetingId: string): Promise<VendorLivestream | null> {
    const data = await this.send(
      { method: 'GET', path: `/meetings/${encodeURIComponent(meetingId)}/active-livestream`, idempotent: true },
      { notFoundAsNull: true },
    );
    return this.parseOptional(vendorLivestreamSchema, data, 'livestream');
  }

  /**
   * One livestream by id (RealtimeKit). Its reference answers `data: {livestream, session, paging}`;
   * a flat `data: {id, status, ...}` is read too.
   */
  async getLivestream(livestreamId: string): Promise<VendorLivestream | null> {
    const data = await this.send(
      { method: 'GET', path: `/livestreams/${encodeURIComponent(livestreamId)}`, idempotent: true },
      { notFoundAsNull: true },
    );
    const livestream = isRecord(data) && isRecord(data.livestream) ? data.livestream : data;
    return this.parseOptional(vendorLivestreamSchema, livestream, 'livestream', data);
  }

  /**
   * Stops whatever livestream is active in the meeting. Safe to repeat: a repeat finds nothing
   * active. Answers null when the vendor says there is nothing to stop (404), else its answer's `data`.
   */
  async stopActiveLivestream(meetingId: string): Promise<{ answer: unknown } | null> {
    const data = await this.send(
      {
        method: 'POST',
        path: `/meetings/${encodeURIComponent(meetingId)}/active-livestream/stop`,
        idempotent: true,
      },
      { notFoundAsNull: true },
    );
    return data === NOT_FOUND ? null : { answer: data };
  }

  async startRecording(body: StartRecordingBody): Promise<VendorRecording> {
    const data = await this.send({ method: 'POST', path: '/recordings', body, idempotent: false });
    return this.parse(vendorRecordingSchema, data, 'recording');
  }

  /** Answers the recording when the vendor sends it back, else null (only a message). */
  async stopRecording(recordingId: string): Promise<VendorRecording | null> {
    const data = await this.send({
      method: 'PUT',
      path: `/recordings/${encodeURIComponent(recordingId)}`,
      body: { action: 'stop' },
      idempotent: true,
    });
    const parsed = vendorRecordingSchema.safeParse(data);
    if (!parsed.success) return null;
    answers.set(parsed.data, data);
    return parsed.data;
  }

  async getRecording(recordingId: string): Promise<VendorRecording | null> {
    const data = await this.send(
      { method: 'GET', path: `/recordings/${encodeURIComponent(recordingId)}`, idempotent: true },
      { notFoundAsNull: true },
    );
    return this.parseOptional(vendorRecordingSchema, data, 'recording');
  }

  async getActiveRecording(meetingId: string): Promise<VendorRecording | null> {
    const data = await this.send(
      {
        method: 'GET',
        path: `/recordings/active-recording/${encodeURIComponent(meetingId)}`,
        idempotent: true,
      },
      { notFoundAsNull: true },
    );
    return this.parseOptional(vendorRecordingSchema, data, 'recording');
  }

  /**
   * One call through the shared client; answers the envelope's `data` (`result` is read too, the
   * usual Cloudflare name), or `NOT_FOUND` on a 404 when asked. A 2xx saying `success: false` is
   * a refusal like a 4xx.
   */
  private async send(request: VendorRequest, options: { notFoundAsNull?: boolean } = {}): Promise<unknown> {
    let response: { status: number; body: unknown };
    try {
      response = await this.http.requestRaw<unknown>(request);
    } catch (error) {
      if (error instanceof VendorHttpError && error.status === 404 && options.notFoundAsNull) return NOT_FOUND;
      throw this.http.toProviderError(error);
    }
    const body = response.body;
    if (!isRecord(body)) throw this.malformed();
    if (body.success === false) {
      throw new ProviderError(
        'PROVIDER_REJECTED',
        this.provider,
        `${this.provider} refused the request (HTTP ${response.status}): ${this.redact(vendorErrorMessage(body)) ?? 'no message'}`,
        response.status,
      );
    }
    return body.data !== undefined ? body.data : body.result;
  }

  /** `data` parsed; `answer` (by default `data` itself) is remembered as the vendor's answer. */
  private parse<T extends object>(schema: z.ZodType<T>, data: unknown, what: string, answer: unknown = data): T {
    const parsed = schema.safeParse(data);
    if (!parsed.success) throw this.malformed(what);
    answers.set(parsed.data, answer);
    return parsed.data;
  }

  /** Null for "none" (404, `data: null`, `data: {}`); a present but unreadable object is malformed. */
  private parseOptional<T extends object>(
    schema: z.ZodType<T>,
    data: unknown,
    what: string,
    answer: unknown = data,
  ): T | null {
    if (data === NOT_FOUND || data === null || data === undefined) return null;
    if (isRecord(data) && Object.keys(data).length === 0) return null;
    return this.parse(schema, data, what, answer);
  }

  /** Like a malformed body: the vendor may have acted, so callers treat it as unclear. */
  private malformed(what?: string): ProviderError {
    return new ProviderError(
      'PROVIDER_UNAVAILABLE',
      this.provider,
      `${this.provider} answered ${what ? `an unreadable ${what}` : 'a malformed body'}`,
      502,
    );
  }

  private redact(message: string | undefined): string | undefined {
    if (message === undefined) return undefined;
    let clean = message;
    for (const secret of this.options.secrets) {
      if (secret.length >= 4) clean = clean.split(secret).join('[redacted]');
    }
    return clean;
  }
}
