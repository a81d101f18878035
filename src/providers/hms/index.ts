import type { Config } from '../../config.js';
import { ProviderError } from '../../domain/errors.js';
import type { StreamKind, StreamStatus } from '../../domain/status.js';
import type { AssetInput, VendorObservation } from '../../domain/types.js';
import { startOnce, VendorHttpError } from '../http.js';
import { JobProvider } from '../job-provider.js';
import type {
  Provider,
  ProviderDefinition,
  StartLivestreamRequest,
  StartRecordingRequest,
  StreamRef,
  WebhookHandler,
} from '../provider.js';
import {
  type HmsAsset,
  HmsClient,
  type HmsClientOptions,
  type HmsJob,
  type HmsJobKind,
  type HmsLivestreamStartBody,
  type HmsRecordingStartBody,
} from './client.js';
import { mapLivestreamStatus, mapRecordingStatus } from './status.js';
import { HmsWebhookHandler } from './webhooks.js';

export interface HmsProviderOptions extends HmsClientOptions {
  /** How long the download URLs of recording assets stay valid (100ms `presign_duration`). */
  presignDurationSeconds?: number;
  /** The secret custom header 100ms sends with each webhook; webhooks are refused without it. */
  webhook?: { header: string; secret: string } | null;
}

const DEFAULT_PRESIGN_DURATION_SECONDS = 24 * 60 * 60;

const PATH: Record<StreamKind, HmsJobKind> = { livestream: 'live-streams', recording: 'recordings' };

/** 100ms statuses during which a job still occupies its room. */
const ACTIVE_VENDOR_STATUSES = ['starting', 'running'] as const;

export const hms: ProviderDefinition = {
  id: 'HMS',
  capabilities: { livestreams: true, recordings: true, webhooks: true },
  webhookPath: '/webhooks/hms',
  create: createHmsProvider,
};

/** The vendor is configured when both halves of the management-token credential are set. */
export function createHmsProvider(config: Config): Provider | null {
  const { accessKey, appSecret, apiUrl, webhookHeader, webhookSecret } = config.hms;
  if (!accessKey || !appSecret) return null;
  return new HmsProvider({
    accessKey,
    appSecret,
    baseUrl: apiUrl,
    ...config.vendor,
    webhook: webhookSecret ? { header: webhookHeader, secret: webhookSecret } : null,
  });
}

/**
 * 100ms: HLS live streams and browser-composite recordings. Both are jobs with one status
 * vocabulary; a completed recording's files are listed and given pre-signed download URLs.
 */
export class HmsProvider extends JobProvider implements Provider {
  readonly id = 'HMS' as const;
  readonly configured = true;
  readonly capabilities = hms.capabilities;
  private readonly client: HmsClient;
  private readonly presignDurationSeconds: number;
  readonly webhooks?: WebhookHandler;

  constructor(options: HmsProviderOptions) {
    super();
    this.client = new HmsClient(options);
    this.presignDurationSeconds = options.presignDurationSeconds ?? DEFAULT_PRESIGN_DURATION_SECONDS;
    if (options.webhook) this.webhooks = new HmsWebhookHandler(options.webhook);
  }

  /**
   * A fresh pre-signed download URL. An asset first known from `beam.recording.success` has no
   * 100ms id: it is found among the room's assets by its path (else by the recording's job id).
   */
  async renewAssetUrl(asset: {
    externalId: string | null;
    path: string | null;
    roomId?: string | null;
    recordingExternalId?: string | null;
  }): Promise<{ url: string; urlExpiresAt: Date | null } | null> {
    try {
      let assetId = asset.externalId;
      if (!assetId && asset.roomId) {
        const roomAssets = await this.client.listRecordingAssets(asset.roomId);
        const found =
          roomAssets.find((candidate) => asset.path && candidate.path === asset.path) ??
          roomAssets.find((candidate) => asset.recordingExternalId && candidate.job_id === asset.recordingExternalId);
        assetId = found?.id ?? null;
      }
      if (!assetId) return null;
      const requestedAt = Date.now();
      const presigned = await this.client.presignAsset(assetId, this.presignDurationSeconds);
      return {
        url: presigned.url,
        urlExpiresAt: expiryDate(presigned.expiry, requestedAt, this.presignDurationSeconds),
      };
    } catch (error) {
      throw this.client.toProviderError(error);
    }
  }

  startLivestream(request: StartLivestreamRequest): Promise<VendorObservation> {
    const body: HmsLivestreamStartBody = {};
    if (request.meetingUrl) body.meeting_url = request.meetingUrl;
    if (request.recording) {
      const recording: HmsLivestreamStartBody['recording'] = {};
      if (typeof request.recording.hlsVod === 'boolean') recording.hls_vod = request.recording.hlsVod;
      if (typeof request.recording.singleFilePerLayer === 'boolean') {
        recording.single_file_per_layer = request.recording.singleFilePerLayer;
      }
      body.recording = recording;
    }
    if (request.destination) body.destination = request.destination;
    return this.start('livestream', request.roomId, body);
  }

  startRecording(request: StartRecordingRequest): Promise<VendorObservation> {
    // meeting_url is sent only when given: whether 100ms requires it is its call to make.
    const body: HmsRecordingStartBody = {};
    if (request.meetingUrl) body.meeting_url = request.meetingUrl;
    if (request.resolution) body.resolution = { width: request.resolution.width, height: request.resolution.height };
    if (typeof request.audioOnly === 'boolean') body.audio_only = request.audioOnly;
    return this.start('recording', request.roomId, body);
  }

  /** Sent once; after an unclear failure the room's active job is adopted (`startOnce`). */
  private async start(
    kind: StreamKind,
    roomId: string,
    body: HmsLivestreamStartBody | HmsRecordingStartBody,
  ): Promise<VendorObservation> {
    const job = await startOnce(
      () => this.client.startJob(PATH[kind], roomId, body),
      () => this.findActive(kind, roomId),
      (error) => this.client.toProviderError(error),
    );
    try {
      // An undocumented status right after a start can only mean "not yet running".
      return await this.observe(kind, job, roomId, 'STARTING');
    } catch (error) {
      throw this.client.toProviderError(error);
    }
  }

  protected async stop(kind: StreamKind, stream: StreamRef): Promise<VendorObservation> {
    const externalId = requireExternalId(stream);
    let job: HmsJob;
    try {
      job = await this.client.stopJob(PATH[kind], externalId);
    } catch (error) {
      // 100ms refuses to stop a job that has already ended: its read says how it ended.
      const ended =
        error instanceof VendorHttpError && isPlainRefusal(error.status)
          ? await this.client.getJob(PATH[kind], externalId).catch(() => null)
          : null;
      if (!ended || !isKnownAndPastRunning(ended.status)) throw this.client.toProviderError(error);
      job = ended;
    }
    try {
      // 100ms took the stop: an undocumented status still means it is at least stopping.
      return await this.observe(kind, job, stream.roomId, 'STOPPING');
    } catch (error) {
      throw this.client.toProviderError(error);
    }
  }

  /** `null` when 100ms does not know the job, or reports a status it does not document. */
  protected async fetch(kind: StreamKind, stream: StreamRef): Promise<VendorObservation | null> {
    if (!stream.externalId) return null;
    try {
      const job = await this.client.getJob(PATH[kind], stream.externalId);
      return job ? await this.observe(kind, job, stream.roomId, null) : null;
    } catch (error) {
      throw this.client.toProviderError(error);
    }
  }

  /** The room's job that is starting or running, the newest first. */
  private async findActive(kind: StreamKind, roomId: string): Promise<HmsJob | null> {
    const found: HmsJob[] = [];
    for (const status of ACTIVE_VENDOR_STATUSES) {
      const jobs = await this.client.listJobs(PATH[kind], roomId, status);
      found.push(...jobs.filter((job) => (job.room_id ?? roomId) === roomId && job.status === status));
    }
    found.sort((a, b) => (b.created_at ?? '').localeCompare(a.created_at ?? ''));
    return found[0] ?? null;
  }

  /** Maps a job; an undocumented status answers `fallback` (`null`: report nothing). */
  private async observe(
    kind: StreamKind,
    job: HmsJob,
    roomId: string,
    fallback: StreamStatus,
  ): Promise<VendorObservation>;
  private async observe(
    kind: StreamKind,
    job: HmsJob,
    roomId: string,
    fallback: StreamStatus | null,
  ): Promise<VendorObservation | null>;
  private async observe(
    kind: StreamKind,
    job: HmsJob,
    roomId: string,
    fallback: StreamStatus | null,
  ): Promise<VendorObservation | null> {
    const status =
      (kind === 'livestream' ? mapLivestreamStatus(job.status) : mapRecordingStatus(job.status)) ?? fallback;
    if (!status) return null;
    const observation: VendorObservation = {
      status,
      vendorStatus: job.status,
      externalId: job.id,
      sessionId: job.session_id ?? null,
      raw: job,
    };
    if (status === 'FAILED') observation.failureReason = `100ms reported the ${kind} as failed`;
    if (kind === 'livestream') {
      observation.playbackUrl = job.playback?.url ?? null;
    } else if (status === 'COMPLETED') {
      observation.assets = await this.recordingAssets(job, job.room_id ?? roomId);
    }
    return observation;
  }

  /** The files of a completed recording, each with a pre-signed download URL. */
  private async recordingAssets(job: HmsJob, roomId: string): Promise<AssetInput[]> {
    const assets = job.recording_assets?.length
      ? job.recording_assets
      : assetsOfJob(job, await this.client.listRecordingAssets(roomId));
    const result: AssetInput[] = [];
    for (const asset of assets) result.push(await this.withDownloadUrl(asset));
    return result;
  }

  private async withDownloadUrl(asset: HmsAsset): Promise<AssetInput> {
    const input: AssetInput = {
      externalId: asset.id,
      type: asset.type ?? 'unknown',
      path: asset.path ?? null,
      size: asset.size ?? null,
      durationSeconds: asset.duration ?? null,
      url: null,
      urlExpiresAt: null,
    };
    try {
      const requestedAt = Date.now();
      const presigned = await this.client.presignAsset(asset.id, this.presignDurationSeconds);
      input.url = presigned.url;
      input.path = input.path ?? presigned.path ?? null;
      input.urlExpiresAt = expiryDate(presigned.expiry, requestedAt, this.presignDurationSeconds);
    } catch (error) {
      // 100ms refusing a URL (say, the file is gone) still leaves the asset worth listing; an
      // unclear failure is raised so the next poll tries again before the recording is final.
      if (!(error instanceof VendorHttpError && isPlainRefusal(error.status))) throw error;
    }
    return input;
  }
}

function requireExternalId(stream: StreamRef): string {
  if (stream.externalId) return stream.externalId;
  throw new ProviderError('PROVIDER_REJECTED', 'HMS', `100ms has no id for stream ${stream.id} yet`);
}

/** A 4xx that is neither about our credential nor about our pace. */
function isPlainRefusal(status: number): boolean {
  return status >= 400 && status < 500 && status !== 401 && status !== 403 && status !== 429;
}

function isKnownAndPastRunning(vendorStatus: string): boolean {
  return ['stopping', 'post_processing', 'completed', 'failed'].includes(vendorStatus);
}

/**
 * A room's assets that belong to this recording: by `job_id`; when 100ms gives no job ids at all,
 * by session instead (whether `job_id` is the REST id is unconfirmed).
 */
export function assetsOfJob(job: HmsJob, roomAssets: HmsAsset[]): HmsAsset[] {
  const byJob = roomAssets.filter((asset) => asset.job_id === job.id);
  if (byJob.length > 0 || roomAssets.some((asset) => asset.job_id)) return byJob;
  return job.session_id ? roomAssets.filter((asset) => asset.session_id === job.session_id) : [];
}

/**
 * `expiry` is unconfirmed: seconds from now, a Unix time in seconds or milliseconds, or a date
 * string are all read; without one, the requested duration is assumed.
 */
export function expiryDate(
  expiry: number | string | null | undefined,
  requestedAt: number,
  requestedSeconds: number,
): Date {
  const numeric = typeof expiry === 'string' && /^\d+(\.\d+)?$/.test(expiry.trim()) ? Number(expiry) : expiry;
  if (typeof numeric === 'number' && Number.isFinite(numeric) && numeric > 0) {
    if (numeric >= 1e12) return new Date(numeric);
    if (numeric >= 1e9) return new Date(numeric * 1000);
    return new Date(requestedAt + numeric * 1000);
  }
  if (typeof numeric === 'string') {
    const parsed = Date.parse(numeric);
    if (!Number.isNaN(parsed)) return new Date(parsed);
  }
  return new Date(requestedAt + requestedSeconds * 1000);
}
