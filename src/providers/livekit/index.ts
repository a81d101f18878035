import type { Config } from '../../config.js';
import { ProviderError } from '../../domain/errors.js';
import type { StreamKind } from '../../domain/status.js';
import type { VendorObservation } from '../../domain/types.js';
import { limitsOf, startOnce, VendorHttpClient, VendorHttpError, type VendorLimits } from '../http.js';
import { JobProvider } from '../job-provider.js';
import type {
  Provider,
  ProviderDefinition,
  StartLivestreamRequest,
  StartRecordingRequest,
  StreamRef,
  VideoSize,
  WebhookHandler,
} from '../provider.js';
import {
  type EgressInfo,
  egressObservation,
  egressOutputKinds,
  egressOutputPaths,
  egressStatus,
  egressStreamUrls,
  parseEgressInfo,
  parseEgressList,
  UnknownEgressStatusError,
} from './egress.js';
import { redactSecrets } from './redact.js';
import { EgressTokenMinter } from './token.js';
import { LivekitWebhookHandler } from './webhooks.js';

export {
  EGRESS_STATUSES,
  type EgressInfo,
  type EgressStatus,
  egressKind,
  egressObservation,
  egressStatus,
  LIVEKIT_LIVESTREAM_STATUS,
  LIVEKIT_RECORDING_STATUS,
  parseEgressInfo,
} from './egress.js';

/**
 * LiveKit Egress over Twirp (`POST /twirp/livekit.Egress/<Method>`, JSON). A livestream is a room
 * composite egress pushing to the caller's RTMP destination, or HLS segments when none is given;
 * a recording is a room composite egress writing one MP4. Our room id is LiveKit's room name, our
 * external id the egress id. Where files land (S3, GCS, …) is the egress server's configuration.
 */

const PROVIDER = 'LIVEKIT' as const;
const EGRESS_SERVICE = '/twirp/livekit.Egress';

export interface LivekitProviderOptions extends VendorLimits {
  /** The LiveKit server's HTTP(S) URL. */
  url: string;
  apiKey: string;
  apiSecret: string;
}

/** One EgressInfo of a ListEgress answer, parsed and as sent. */
interface ListedEgress {
  info: EgressInfo;
  raw: unknown;
}

/** What the start request told LiveKit to write, to recognise our egress among the room's. */
interface OwnOutputs {
  kind: 'stream' | 'segments' | 'file';
  /** A path fragment only our egress writes (recordings/<id>.mp4, livestreams/<id>/). */
  pathMarker: string | null;
  destination: string | null;
}

/** Twirp errors are `{code, msg}`. */
export function twirpErrorMessage(body: unknown): string | undefined {
  if (body && typeof body === 'object' && 'msg' in body && typeof body.msg === 'string') return body.msg;
  return undefined;
}

export const livekit: ProviderDefinition = {
  id: PROVIDER,
  capabilities: { livestreams: true, recordings: true, webhooks: true },
  // Signed with the API key and secret the provider already has: configured with it.
  webhookPath: '/webhooks/livekit',
  create: createLivekitProvider,
};

export class LivekitProvider extends JobProvider implements Provider {
  readonly id = PROVIDER;
  readonly configured = true;
  readonly capabilities = livekit.capabilities;
  private readonly http: VendorHttpClient;
  private readonly tokens: EgressTokenMinter;
  /** LiveKit signs its webhooks with the same API key and secret. */
  readonly webhooks: WebhookHandler;

  constructor(private readonly options: LivekitProviderOptions) {
    super();
    this.tokens = new EgressTokenMinter(options.apiKey, options.apiSecret);
    this.webhooks = new LivekitWebhookHandler(options.apiKey, options.apiSecret);
    this.http = new VendorHttpClient({
      provider: PROVIDER,
      baseUrl: options.url,
      ...limitsOf(options),
      auth: async () => ({ authorization: `Bearer ${await this.tokens.token()}` }),
      errorMessage: twirpErrorMessage,
    });
  }

  async startLivestream(request: StartLivestreamRequest): Promise<VendorObservation> {
    const destination = request.destination ?? null;
    const secrets = destinationSecrets(destination);
    let outputs: Record<string, unknown>;
    let own: OwnOutputs;
    if (!destination) {
      const prefix = `livestreams/${request.streamId}/`;
      outputs = { segment_outputs: [{ filename_prefix: prefix, playlist_name: 'index.m3u8' }] };
      own = { kind: 'segments', pathMarker: prefix, destination: null };
    } else if (/^rtmps?:\/\//i.test(destination)) {
      outputs = { stream_outputs: [{ protocol: 'RTMP', urls: [destination] }] };
      own = { kind: 'stream', pathMarker: null, destination };
    } else {
      // Never echo the destination: it usually carries the stream key.
      throw new ProviderError(
        'PROVIDER_REJECTED',
        PROVIDER,
        'LiveKit livestreams push to an rtmp:// or rtmps:// destination; leave destination empty for HLS',
      );
    }
    const body = { room_name: request.roomId, ...compositeOptions(request.meetingUrl, request.video), ...outputs };
    return this.start('livestream', request.roomId, body, own, secrets);
  }

  async startRecording(request: StartRecordingRequest): Promise<VendorObservation> {
    const filepath = `recordings/${request.recordingId}.mp4`;
    const body = {
      room_name: request.roomId,
      ...compositeOptions(request.meetingUrl, request.resolution),
      ...(request.audioOnly ? { audio_only: true } : {}),
      // Explicit, or LiveKit picks OGG for audio-only despite the .mp4 name.
      file_outputs: [{ filepath, file_type: 'MP4' }],
    };
    return this.start('recording', request.roomId, body, { kind: 'file', pathMarker: filepath, destination: null }, []);
  }

  /**
   * Sent once (`startOnce`): after an answer that leaves it unclear whether LiveKit acted
   * (timeout, 5xx, unreadable 2xx), the room's active egresses are read and ours adopted.
   */
  private async start(
    kind: StreamKind,
    roomId: string,
    body: Record<string, unknown>,
    own: OwnOutputs,
    secrets: string[],
  ): Promise<VendorObservation> {
    const started = await startOnce<ListedEgress>(
      async () => {
        const answer = await this.call('StartRoomCompositeEgress', body, false);
        const info = parseEgressInfo(answer);
        if (info?.egressId) return { info, raw: answer };
        throw new ProviderError('PROVIDER_UNAVAILABLE', PROVIDER, 'LIVEKIT answered an unreadable egress', 502);
      },
      () => this.findOwnActiveEgress(roomId, own),
      (error) => this.toProviderError(error, secrets),
    );
    return this.observe(kind, started.info, secrets, started.raw);
  }

  /** The room's active egress our unclear start may have created, or null. */
  private async findOwnActiveEgress(roomId: string, own: OwnOutputs): Promise<ListedEgress | null> {
    const items = await this.listEgress({ room_name: roomId, active: true });
    const candidates = items
      .filter(({ info }) => info.egressId && egressStatus(info.status) !== null)
      .map(({ info, raw }) => ({ info, raw, match: ownership(info, own) }))
      .filter((candidate) => candidate.match !== 'other');
    // Ours for sure first; else the newest of the same kind (one not started yet has no time).
    const newest = (info: EgressInfo) => info.startedAt ?? Number.POSITIVE_INFINITY;
    candidates.sort(
      (a, b) => Number(b.match === 'ours') - Number(a.match === 'ours') || newest(b.info) - newest(a.info),
    );
    return candidates[0] ?? null;
  }

  protected async stop(kind: StreamKind, stream: StreamRef): Promise<VendorObservation> {
    const egressId = requireEgressId(stream);
    try {
      const answer = await this.call('StopEgress', { egress_id: egressId }, true);
      const info = parseEgressInfo(answer);
      if (info?.egressId) return this.observe(kind, info, [], answer);
    } catch (error) {
      // Refused because it is already ending or ended (also when a retried stop had landed
      // the first time): the egress's current state is the answer.
      if (!(error instanceof VendorHttpError && [400, 409, 412].includes(error.status))) {
        throw this.toProviderError(error, []);
      }
      const current = await this.fetch(kind, stream);
      if (current && current.vendorStatus !== 'EGRESS_STARTING' && current.vendorStatus !== 'EGRESS_ACTIVE') {
        return current;
      }
      throw this.toProviderError(error, []);
    }
    // A stop answered with an unreadable body: LiveKit acted, so read what it did.
    const current = await this.fetch(kind, stream);
    if (current) return current;
    throw new ProviderError('PROVIDER_UNAVAILABLE', PROVIDER, 'LIVEKIT answered an unreadable egress', 502);
  }

  protected async fetch(kind: StreamKind, stream: StreamRef): Promise<VendorObservation | null> {
    if (!stream.externalId) return null;
    let items: ListedEgress[];
    try {
      items = await this.listEgress({ egress_id: stream.externalId });
    } catch (error) {
      // Some LiveKit versions answer not_found for an unknown egress id instead of no items.
      if (error instanceof VendorHttpError && error.status === 404) return null;
      throw this.toProviderError(error, []);
    }
    const found = items.find((item) => item.info.egressId === stream.externalId);
    return found ? this.observe(kind, found.info, [], found.raw) : null;
  }

  /** ListEgress, retried like any read; raw errors are left to the caller. */
  private async listEgress(body: Record<string, unknown>): Promise<ListedEgress[]> {
    const answer = await this.call('ListEgress', body, true);
    const items = parseEgressList(answer);
    if (!items) throw new ProviderError('PROVIDER_UNAVAILABLE', PROVIDER, 'LIVEKIT answered an unreadable egress list');
    // Parsing keeps the list's order: item i is the vendor's items[i].
    const rawItems = answer && typeof answer === 'object' && 'items' in answer ? answer.items : null;
    return items.map((info, index) => ({ info, raw: Array.isArray(rawItems) ? rawItems[index] : undefined }));
  }

  private async call(method: string, body: Record<string, unknown>, idempotent: boolean): Promise<unknown> {
    const response = await this.http.requestRaw({
      method: 'POST',
      path: `${EGRESS_SERVICE}/${method}`,
      body,
      idempotent,
    });
    return response.body;
  }

  /** `raw` is the EgressInfo as LiveKit sent it, kept in history. */
  private observe(kind: StreamKind, info: EgressInfo, secrets: string[], raw: unknown): VendorObservation {
    try {
      const observation = egressObservation(kind, info);
      if (observation.failureReason) {
        observation.failureReason = this.redact(observation.failureReason, secrets);
      }
      if (raw !== undefined) observation.raw = raw;
      return observation;
    } catch (error) {
      throw this.toProviderError(error, secrets);
    }
  }

  /** Every failure becomes a `ProviderError` whose message holds no credential or stream key. */
  private toProviderError(error: unknown, secrets: string[]): ProviderError {
    const base =
      error instanceof UnknownEgressStatusError
        ? new ProviderError('PROVIDER_UNAVAILABLE', PROVIDER, error.message)
        : this.http.toProviderError(error);
    const message = this.redact(base.message, secrets);
    return message === base.message
      ? base
      : new ProviderError(base.code, base.provider, message, base.vendorStatusCode, base.retryAfterMs);
  }

  private redact(text: string, secrets: string[]): string {
    return redactSecrets(text, [this.options.apiSecret, this.options.apiKey, this.tokens.current, ...secrets]);
  }
}

/** Answers null when LiveKit's credentials are not set: the vendor is then "not configured". */
export function createLivekitProvider(config: Config): Provider | null {
  const { url, apiKey, apiSecret } = config.livekit;
  if (!url || !apiKey || !apiSecret) return null;
  return new LivekitProvider({
    url,
    apiKey,
    apiSecret,
    ...config.vendor,
  });
}

/**
 * `meetingUrl` is LiveKit's custom layout page (`custom_base_url`). A video size becomes
 * `advanced` encoding options: LiveKit keeps its defaults for every field left unset (framerate,
 * codecs, bitrates); without a size, its default preset (H264_720P_30) applies.
 */
function compositeOptions(meetingUrl: string | null | undefined, size: VideoSize | null | undefined) {
  return {
    ...(meetingUrl ? { custom_base_url: meetingUrl } : {}),
    ...(size ? { advanced: { width: size.width, height: size.height } } : {}),
  };
}

/** The destination and its stream key (last path segment), never to be shown back. */
function destinationSecrets(destination: string | null): string[] {
  if (!destination) return [];
  const key = destination.split(/[/?#]/).filter(Boolean).at(-1);
  return key && key !== destination ? [destination, key] : [destination];
}

function requireEgressId(stream: StreamRef): string {
  if (!stream.externalId) {
    throw new ProviderError('PROVIDER_REJECTED', PROVIDER, `LiveKit has no egress for stream ${stream.id} yet`);
  }
  return stream.externalId;
}

/**
 * Whether an active egress of the room is the one our ambiguous start created: `ours` when it
 * writes our path or pushes to our destination, `other` when it is of another output type or
 * writes someone else's path, else `unknown` (LiveKit may redact stream URLs).
 */
function ownership(info: EgressInfo, own: OwnOutputs): 'ours' | 'other' | 'unknown' {
  const kinds = egressOutputKinds(info);
  if (kinds.size !== 1 || !kinds.has(own.kind)) return 'other';
  if (own.destination) return egressStreamUrls(info).includes(own.destination) ? 'ours' : 'unknown';
  const paths = egressOutputPaths(info);
  if (paths.length === 0) return 'unknown';
  const marker = own.pathMarker;
  return marker && paths.some((path) => path.includes(marker)) ? 'ours' : 'other';
}
