import { z } from 'zod';
import type { ProviderError } from '../../domain/errors.js';
import { optionalNumber, optionalText } from '../fields.js';
import { limitsOf, VendorHttpClient, VendorHttpError, type VendorLimits, type VendorRequest } from '../http.js';
import { ManagementTokens } from './token.js';

/**
 * The 100ms REST API (v2) as vendors.md describes it: management-token auth, live streams,
 * recordings and recording assets. Answers are parsed leniently (unknown fields are kept, odd
 * items in a list are skipped); a 2xx whose shape is unusable counts as malformed, like a non-JSON one.
 */

export interface HmsClientOptions extends VendorLimits {
  accessKey: string;
  appSecret: string;
  baseUrl: string;
  /** Clock for the management token, replaceable in tests. */
  now?: () => number;
}

export const hmsAssetSchema = z.looseObject({
  id: z.string().min(1),
  job_id: optionalText,
  room_id: optionalText,
  session_id: optionalText,
  type: optionalText,
  status: optionalText,
  path: optionalText,
  size: optionalNumber,
  duration: optionalNumber,
  created_at: optionalText,
});
export type HmsAsset = z.infer<typeof hmsAssetSchema>;

/** A list whose items are parsed one by one: an item we can not read is skipped, not fatal. */
function lenientArray<T>(item: z.ZodType<T>) {
  return z.array(z.unknown()).transform((values) =>
    values.flatMap((value) => {
      const parsed = item.safeParse(value);
      return parsed.success ? [parsed.data] : [];
    }),
  );
}

/** A live stream or a recording: 100ms gives both the same shape and status vocabulary. */
export const hmsJobSchema = z.looseObject({
  id: z.string().min(1),
  room_id: optionalText,
  session_id: optionalText,
  status: z.string().min(1),
  meeting_url: optionalText,
  destination: optionalText,
  playback: z.looseObject({ url: optionalText }).nullish(),
  recording_assets: lenientArray(hmsAssetSchema).nullish(),
  created_at: optionalText,
  started_at: optionalText,
  stopped_at: optionalText,
});
export type HmsJob = z.infer<typeof hmsJobSchema>;

const pageSchema = <T>(item: z.ZodType<T>) =>
  z.looseObject({ data: lenientArray(item).nullish(), limit: optionalNumber, last: optionalText });

export const hmsPresignedUrlSchema = z.looseObject({
  id: optionalText,
  path: optionalText,
  url: z.string().min(1),
  /** Unconfirmed whether seconds from now, an epoch or a date: read by `expiryDate`. */
  expiry: z.union([z.number(), z.string()]).nullish(),
});
export type HmsPresignedUrl = z.infer<typeof hmsPresignedUrlSchema>;

export interface HmsLivestreamStartBody {
  meeting_url?: string;
  recording?: { hls_vod?: boolean; single_file_per_layer?: boolean };
  destination?: string;
}

export interface HmsRecordingStartBody {
  meeting_url?: string;
  resolution?: { width: number; height: number };
  audio_only?: boolean;
}

export type HmsJobKind = 'live-streams' | 'recordings';

/** Pulls `message` out of 100ms's error envelope `{code, message, details[]}`. */
export function hmsErrorMessage(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || !('message' in body)) return undefined;
  return typeof body.message === 'string' && body.message.length > 0 ? body.message : undefined;
}

/** Enough pages for any room's list; a longer one is cut rather than followed forever. */
const MAX_PAGES = 20;

export class HmsClient {
  private readonly http: VendorHttpClient;
  private readonly tokens: ManagementTokens;

  constructor(options: HmsClientOptions) {
    this.tokens = new ManagementTokens({
      accessKey: options.accessKey,
      appSecret: options.appSecret,
      now: options.now,
    });
    this.http = new VendorHttpClient({
      provider: 'HMS',
      baseUrl: options.baseUrl,
      ...limitsOf(options),
      auth: async () => ({ authorization: `Bearer ${await this.tokens.get()}` }),
      errorMessage: hmsErrorMessage,
    });
  }

  startJob(kind: HmsJobKind, roomId: string, body: HmsLivestreamStartBody | HmsRecordingStartBody): Promise<HmsJob> {
    return this.send(
      { method: 'POST', path: `/${kind}/room/${segment(roomId)}/start`, body, idempotent: false },
      hmsJobSchema,
    );
  }

  stopJob(kind: HmsJobKind, id: string): Promise<HmsJob> {
    return this.send({ method: 'POST', path: `/${kind}/${segment(id)}/stop`, idempotent: true }, hmsJobSchema);
  }

  /** `null` when 100ms does not know the id (404). */
  async getJob(kind: HmsJobKind, id: string): Promise<HmsJob | null> {
    try {
      return await this.send({ method: 'GET', path: `/${kind}/${segment(id)}`, idempotent: true }, hmsJobSchema);
    } catch (error) {
      if (error instanceof VendorHttpError && error.status === 404) return null;
      throw error;
    }
  }

  listJobs(kind: HmsJobKind, roomId: string, status: string): Promise<HmsJob[]> {
    return this.listAll(`/${kind}`, { room_id: roomId, status }, hmsJobSchema);
  }

  listRecordingAssets(roomId: string): Promise<HmsAsset[]> {
    return this.listAll('/recording-assets', { room_id: roomId }, hmsAssetSchema);
  }

  presignAsset(assetId: string, durationSeconds: number): Promise<HmsPresignedUrl> {
    return this.send(
      {
        method: 'GET',
        path: `/recording-assets/${segment(assetId)}/presigned-url`,
        query: { presign_duration: durationSeconds },
        idempotent: true,
      },
      hmsPresignedUrlSchema,
    );
  }

  toProviderError(error: unknown): ProviderError {
    return this.http.toProviderError(error);
  }

  /** Follows `last` → `start` until a page comes back without a cursor. */
  private async listAll<T>(path: string, query: Record<string, string>, item: z.ZodType<T>): Promise<T[]> {
    const items: T[] = [];
    let start: string | null = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const answer: { data?: T[] | null; last?: string | null } = await this.send(
        { method: 'GET', path, query: { ...query, start: start ?? undefined }, idempotent: true },
        pageSchema(item),
      );
      const data = answer.data ?? [];
      items.push(...data);
      if (!answer.last || data.length === 0 || answer.last === start) break;
      start = answer.last;
    }
    return items;
  }

  /**
   * One call: a vendor error answer stays a `VendorHttpError`. A token 100ms refuses (revoked,
   * secret rotated, clocks apart) is replaced once and the call sent once more, as the official
   * SDK does; a refused call did nothing, so even a start is safe to resend.
   */
  private async send<T>(request: VendorRequest, schema: z.ZodType<T>): Promise<T> {
    let body: unknown;
    try {
      body = (await this.http.requestRaw(request)).body;
    } catch (error) {
      if (!(error instanceof VendorHttpError) || (error.status !== 401 && error.status !== 403)) throw error;
      this.tokens.invalidate();
      body = (await this.http.requestRaw(request)).body;
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw new VendorHttpError('HMS answered an unexpected body', 502, 'malformed body');
    return parsed.data;
  }
}

function segment(value: string): string {
  return encodeURIComponent(value);
}
