import type { z } from 'zod';
import type { Config } from '../../config.js';
import { ProviderError } from '../../domain/errors.js';
import type { LivestreamStatus } from '../../domain/status.js';
import type { VendorObservation } from '../../domain/types.js';
import {
  limitsOf,
  startOnce,
  VendorHttpClient,
  VendorHttpError,
  type VendorLimits,
  type VendorResponse,
} from '../http.js';
import type { Provider, ProviderDefinition, StartLivestreamRequest, StreamRef } from '../provider.js';
import {
  GO_LIVE_PATH,
  type GoLiveAnswer,
  goLiveAnswerSchema,
  isFailureEnvelope,
  mapSessionStatus,
  sessionAnswerSchema,
  sessionPath,
  type TenbyteSession,
  vendorErrorMessage,
} from './contract.js';

/**
 * Tenbyte Webinar: a livestream is a Tenbyte session going live. Our `roomId` is the Tenbyte
 * session id; start is `go_live` on it, stop ends it, and the poller reads it (Tenbyte documents
 * no webhooks and no recordings). See contract.ts for what is documented and what is assumed.
 */

export interface TenbyteOptions extends VendorLimits {
  apiToken: string;
  apiUrl: string;
  /** Assumed read path, `{id}` = session id. */
  statusPath: string;
  /** Assumed end path, `{id}` = session id. */
  stopPath: string;
}

/** Our marker, not a Tenbyte value: the end call succeeded but its answer named no session status. */
export const END_REQUESTED = 'end_requested';

const NO_RECORDINGS = 'Tenbyte does not support recordings';

/** No webhooks and no recordings: the poller reads its livestreams. */
export const tenbyte: ProviderDefinition = {
  id: 'TENBYTE',
  capabilities: { livestreams: true, recordings: false, webhooks: false },
  create: createTenbyteProvider,
};

export function createTenbyteProvider(config: Config): Provider | null {
  const { apiToken, apiUrl, statusPath, stopPath } = config.tenbyte;
  if (!apiToken) return null;
  return new TenbyteProvider({
    apiToken,
    apiUrl,
    statusPath,
    stopPath,
    ...config.vendor,
  });
}

export class TenbyteProvider implements Provider {
  readonly id = 'TENBYTE' as const;
  readonly configured = true;
  readonly capabilities = tenbyte.capabilities;
  private readonly http: VendorHttpClient;

  constructor(private readonly options: TenbyteOptions) {
    const authorization = `Bearer ${options.apiToken}`;
    this.http = new VendorHttpClient({
      provider: this.id,
      baseUrl: options.apiUrl,
      ...limitsOf(options),
      auth: () => ({ authorization }),
      errorMessage: (body) => this.errorMessage(body),
    });
  }

  async startLivestream(request: StartLivestreamRequest): Promise<VendorObservation> {
    const sessionId = request.roomId;
    // go_live takes no body (seed 003) and is sent once; when we heard nothing usable, the session
    // may have gone live all the same: it is read before the start fails.
    return startOnce(
      async () => {
        const response = await this.http.requestRaw({
          method: 'POST',
          path: sessionPath(GO_LIVE_PATH, sessionId),
          idempotent: false,
        });
        return goLiveObservation(this.readAnswer(goLiveAnswerSchema, response), response.body);
      },
      () => this.readLiveSession(sessionId),
      (error) => this.http.toProviderError(error),
    );
  }

  async stopLivestream(stream: StreamRef): Promise<VendorObservation> {
    const sessionId = sessionIdOf(stream);
    let response: VendorResponse;
    try {
      response = await this.http.requestRaw({
        method: 'POST',
        path: sessionPath(this.options.stopPath, sessionId),
        idempotent: true,
      });
    } catch (error) {
      // Ending a session that already ended may be refused; what the session says then is the answer.
      if (error instanceof VendorHttpError && isRefusalOfState(error.status)) {
        const ended = await this.readEndedSession(sessionId);
        if (ended) return ended;
      }
      throw this.http.toProviderError(error);
    }
    if (isFailureEnvelope(response.body)) throw this.refusal(response);
    const answer = sessionAnswerSchema.safeParse(response.body);
    if (!answer.success) return { status: 'STOPPING', vendorStatus: END_REQUESTED, raw: response.body };
    const { session } = answer.data.data;
    // The end was accepted: a status we do not know still means the session is on its way out.
    return observeSession(session, mapSessionStatus(session.status) ?? 'STOPPING', response.body);
  }

  async fetchLivestream(stream: StreamRef): Promise<VendorObservation | null> {
    const read = await this.readSession(sessionIdOf(stream));
    if (!read) return null;
    const { session, answer } = read;
    const status = mapSessionStatus(session.status);
    if (!status) {
      // Throwing (the poller logs it) keeps the stream's status instead of guessing a new one.
      throw new ProviderError(
        'PROVIDER_UNAVAILABLE',
        this.id,
        `${this.id} reported an unknown session status "${session.status.slice(0, 64)}"; the stream keeps its status`,
      );
    }
    return observeSession(session, status, answer);
  }

  startRecording(): Promise<VendorObservation> {
    return Promise.reject(new ProviderError('PROVIDER_REJECTED', this.id, NO_RECORDINGS));
  }

  stopRecording(): Promise<VendorObservation> {
    return Promise.reject(new ProviderError('PROVIDER_REJECTED', this.id, NO_RECORDINGS));
  }

  fetchRecording(): Promise<VendorObservation | null> {
    return Promise.reject(new ProviderError('PROVIDER_REJECTED', this.id, NO_RECORDINGS));
  }

  /** The session and the answer it was read from, or null when Tenbyte does not know it (404). */
  private async readSession(sessionId: string): Promise<{ session: TenbyteSession; answer: unknown } | null> {
    let response: VendorResponse;
    try {
      response = await this.http.requestRaw({
        method: 'GET',
        path: sessionPath(this.options.statusPath, sessionId),
        idempotent: true,
      });
    } catch (error) {
      if (error instanceof VendorHttpError && error.status === 404) return null;
      throw this.http.toProviderError(error);
    }
    return { session: this.readAnswer(sessionAnswerSchema, response).data.session, answer: response.body };
  }

  /** The session mapped, when it is live; null when it is not or can not be read. */
  private async readLiveSession(sessionId: string): Promise<VendorObservation | null> {
    const read = await this.readSession(sessionId).catch(() => null);
    if (!read || mapSessionStatus(read.session.status) !== 'LIVE') return null;
    return observeSession(read.session, 'LIVE', read.answer);
  }

  /** The session mapped, when it has ended or failed; null otherwise. */
  private async readEndedSession(sessionId: string): Promise<VendorObservation | null> {
    const read = await this.readSession(sessionId).catch(() => null);
    const status = read ? mapSessionStatus(read.session.status) : null;
    if (!read || (status !== 'STOPPED' && status !== 'FAILED')) return null;
    return observeSession(read.session, status, read.answer);
  }

  /**
   * A 2xx answer parsed, or an error: `success: false` is Tenbyte refusing; a body we can not read
   * is unclear (the vendor may have acted), like http.ts treats a malformed body.
   */
  private readAnswer<T>(schema: z.ZodType<T>, response: VendorResponse): T {
    if (isFailureEnvelope(response.body)) throw this.refusal(response);
    const parsed = schema.safeParse(response.body);
    if (!parsed.success) {
      throw new VendorHttpError(`${this.id} answered an unexpected body`, 502, 'unexpected answer body');
    }
    return parsed.data;
  }

  private refusal(response: VendorResponse): ProviderError {
    const message = this.errorMessage(response.body) ?? 'no message';
    return new ProviderError(
      'PROVIDER_REJECTED',
      this.id,
      `${this.id} refused the request (HTTP ${response.status}): ${message}`,
      response.status,
    );
  }

  /** The vendor's message, with our token cut out should the vendor ever echo it. */
  private errorMessage(body: unknown): string | undefined {
    const message = typeof body === 'string' ? (body.length < 300 ? body : undefined) : vendorErrorMessage(body);
    return message?.replaceAll(this.options.apiToken, '[redacted]');
  }
}

function sessionIdOf(stream: StreamRef): string {
  return stream.externalId ?? stream.sessionId ?? stream.roomId;
}

/** 4xx answers that may mean "not in a state to end" rather than "not allowed". */
function isRefusalOfState(status: number): boolean {
  return status === 400 || status === 409 || status === 422;
}

/** `answer` is the vendor's whole answer the session was read from, kept in history. */
function observeSession(session: TenbyteSession, status: LivestreamStatus, answer: unknown): VendorObservation {
  return {
    status,
    vendorStatus: session.status,
    externalId: session.id,
    sessionId: session.id,
    playbackUrl: session.hls_url || null,
    ...(status === 'FAILED' ? { failureReason: `Tenbyte reported the session as ${session.status}` } : {}),
    raw: answer,
  };
}

/** `body` is go_live's answer as sent (its `livekit_token` and stream keys are redacted in history). */
function goLiveObservation(answer: GoLiveAnswer, body: unknown): VendorObservation {
  const { session, rtmp, whip_url } = answer.data;
  // go_live was accepted: a status we do not know yet still means the session is starting.
  const observation = observeSession(session, mapSessionStatus(session.status) ?? 'STARTING', body);
  const ingest = { rtmpUrl: rtmp?.url || null, streamKey: rtmp?.stream_key || null, whipUrl: whip_url || null };
  if (ingest.rtmpUrl || ingest.streamKey || ingest.whipUrl) observation.ingest = ingest;
  return observation;
}
