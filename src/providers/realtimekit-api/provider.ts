import { ProviderError } from '../../domain/errors.js';
import type { LivestreamStatus, ProviderId, RecordingStatus } from '../../domain/status.js';
import type { AssetInput, VendorObservation } from '../../domain/types.js';
import { startOnce } from '../http.js';
import type {
  Provider,
  ProviderCapabilities,
  StartLivestreamRequest,
  StartRecordingRequest,
  StreamRef,
  WebhookHandler,
} from '../provider.js';
import {
  type RealtimeKitApi,
  type StartLivestreamBody,
  type StartRecordingBody,
  type VendorLivestream,
  type VendorRecording,
  vendorAnswer,
} from './api.js';
import { type LivestreamHistory, mapLivestreamStatus, mapRecordingStatus, SYNTHETIC_VENDOR_STATUS } from './status.js';
import { RealtimeKitWebhookHandler } from './webhooks.js';

export interface RealtimeKitProviderOptions {
  /** As the vendor's definition declares them. */
  capabilities: ProviderCapabilities;
  api: RealtimeKitApi;
  livestreamStatus: Readonly<Record<string, LivestreamStatus>>;
  recordingStatus: Readonly<Record<string, RecordingStatus>>;
  /**
   * How a livestream is read back when polled: by its id (RealtimeKit's `GET /livestreams/{id}`),
   * or through the meeting's active livestream (Dyte documents no read-one path).
   */
  livestreamRead: 'by-id' | 'meeting-active';
  /** Webhook verification (`<headerPrefix>-signature` with this PEM key); no webhooks without it. */
  webhook?: { headerPrefix: string; publicKeyPem: string };
}

const RECORDING_PAST_CAPTURE: ReadonlySet<RecordingStatus> = new Set(['UPLOADING', 'COMPLETED', 'FAILED']);

/**
 * A provider for the RealtimeKit API family (Cloudflare RealtimeKit, Dyte v2): a meeting id is our
 * room id, one livestream and one recording are active per meeting at a time.
 *
 * Starts are sent once: after an unclear failure (timeout, 5xx, unreadable answer) the meeting's
 * active livestream / recording is read and adopted when present, instead of failing a stream the
 * vendor may be running.
 */
export class RealtimeKitFamilyProvider implements Provider {
  readonly id: ProviderId;
  readonly configured = true;
  readonly capabilities: ProviderCapabilities;
  /**
   * What this process has seen of each livestream that is not over yet, to read `OFFLINE` and a
   * missing active livestream (see `mapLivestreamStatus`). Lost on restart: a stream then stays
   * as it is until the vendor reports it explicitly (IDLE, ERRORED) or a webhook arrives.
   */
  private readonly livestreamHistory = new Map<string, LivestreamHistory>();
  readonly webhooks?: WebhookHandler;

  constructor(private readonly options: RealtimeKitProviderOptions) {
    this.id = options.api.provider;
    this.capabilities = options.capabilities;
    if (options.webhook) {
      this.webhooks = new RealtimeKitWebhookHandler({ provider: this.id, ...options.webhook }, this);
    }
  }

  async startLivestream(request: StartLivestreamRequest): Promise<VendorObservation> {
    const body: StartLivestreamBody = {};
    if (request.name) body.name = request.name;
    if (request.video) body.video_config = { height: request.video.height, width: request.video.width };
    const livestream = await startOnce(
      () => this.options.api.startLivestream(request.roomId, body),
      () => this.options.api.getActiveLivestream(request.roomId),
    );
    return this.observeLivestream(livestream, { startAnswer: true });
  }

  async stopLivestream(stream: StreamRef): Promise<VendorObservation> {
    // The vendor stops "the meeting's active livestream": make sure that is still ours first, so a
    // livestream someone else started later in the meeting is never stopped by us.
    const active = await this.options.api.getActiveLivestream(stream.roomId);
    if (active && stream.externalId && active.id !== stream.externalId) return this.notActive(stream);
    const stopped = await this.options.api.stopActiveLivestream(stream.roomId);
    if (!stopped) return this.notActive(stream);
    const externalId = stream.externalId ?? active?.id ?? null;
    if (externalId) this.historyOf(externalId).stopRequested = true;
    return {
      status: 'STOPPING',
      vendorStatus: SYNTHETIC_VENDOR_STATUS.stopRequested,
      externalId,
      ...(stopped.answer !== undefined ? { raw: stopped.answer } : {}),
    };
  }

  async fetchLivestream(stream: StreamRef): Promise<VendorObservation | null> {
    if (!stream.externalId) return null;
    if (this.options.livestreamRead === 'by-id') {
      const livestream = await this.options.api.getLivestream(stream.externalId);
      return livestream ? this.observeLivestream(livestream) : null;
    }
    const active = await this.options.api.getActiveLivestream(stream.roomId);
    if (active?.id === stream.externalId) return this.observeLivestream(active);
    // Not (or no longer) the meeting's active livestream. Before it first went live that may only
    // mean the vendor does not list it yet, so "not active" ends it only once we saw it LIVE or
    // asked it to stop; otherwise we know nothing new.
    const seen = this.livestreamHistory.get(stream.externalId);
    return seen && (seen.wentLive || seen.stopRequested) ? this.notActive(stream) : null;
  }

  async startRecording(request: StartRecordingRequest): Promise<VendorObservation> {
    if (request.audioOnly) {
      throw new ProviderError(
        'PROVIDER_REJECTED',
        this.id,
        `${this.id} records the meeting's composite video; audio-only recordings are not supported`,
      );
    }
    const body: StartRecordingBody = { meeting_id: request.roomId };
    if (request.resolution) {
      body.video_config = { width: request.resolution.width, height: request.resolution.height };
    }
    const recording = await startOnce(
      () => this.options.api.startRecording(body),
      () => this.options.api.getActiveRecording(request.roomId),
    );
    return this.observeRecording(recording);
  }

  async stopRecording(stream: StreamRef): Promise<VendorObservation> {
    const recordingId = this.requireExternalId(stream);
    try {
      const answered = await this.options.api.stopRecording(recordingId);
      if (answered && RECORDING_PAST_CAPTURE.has(this.recordingStatus(answered))) {
        return this.observeRecording(answered);
      }
      // The answer shows the recording as it was when the stop arrived; it uploads afterwards.
      return {
        status: 'STOPPING',
        vendorStatus: SYNTHETIC_VENDOR_STATUS.stopRequested,
        externalId: recordingId,
        sessionId: answered?.session_id ?? null,
        ...(answered ? withRaw(answered) : {}),
      };
    } catch (error) {
      // A refused stop may only mean it had stopped already (by itself, or a repeat after a lost
      // answer): then its own state is the answer.
      if (!(error instanceof ProviderError) || error.code !== 'PROVIDER_REJECTED') throw error;
      const current = await this.options.api.getRecording(recordingId).catch(() => null);
      if (current && RECORDING_PAST_CAPTURE.has(this.recordingStatus(current))) return this.observeRecording(current);
      throw error;
    }
  }

  async fetchRecording(stream: StreamRef): Promise<VendorObservation | null> {
    if (!stream.externalId) return null;
    const recording = await this.options.api.getRecording(stream.externalId);
    return recording ? this.observeRecording(recording) : null;
  }

  close(): void {
    this.livestreamHistory.clear();
  }

  /**
   * A livestream as a status-update webhook reports it, mapped like an API answer. A livestream
   * this process has no history of was started before a restart (ours get history from their
   * start answer), so its announced `OFFLINE` is read as its end.
   */
  observeLivestreamUpdate(livestream: VendorLivestream): VendorObservation {
    if (!this.livestreamHistory.has(livestream.id)) this.historyOf(livestream.id).wentLive = true;
    return this.observeLivestream(livestream);
  }

  private observeLivestream(livestream: VendorLivestream, options: { startAnswer?: boolean } = {}): VendorObservation {
    const history = this.historyOf(livestream.id);
    // A start's answer shows the livestream as created: its OFFLINE is "not live yet", even when a
    // webhook that beat the answer has already said LIVE.
    const seen = options.startAnswer ? { wentLive: false, stopRequested: false } : history;
    const status = mapLivestreamStatus(this.options.livestreamStatus, livestream.status, seen);
    if (status === 'LIVE') history.wentLive = true;
    if (status === 'STOPPED' || status === 'FAILED') this.livestreamHistory.delete(livestream.id);
    return {
      status,
      vendorStatus: livestream.status ?? SYNTHETIC_VENDOR_STATUS.unknown,
      externalId: livestream.id,
      playbackUrl: livestream.playback_url ?? null,
      ingest: { rtmpUrl: livestream.ingest_server ?? null, streamKey: livestream.stream_key ?? null },
      ...(status === 'FAILED' ? { failureReason: `${this.id} reported the livestream ${livestream.status}` } : {}),
      ...withRaw(livestream),
    };
  }

  private notActive(stream: StreamRef): VendorObservation {
    if (stream.externalId) this.livestreamHistory.delete(stream.externalId);
    return { status: 'STOPPED', vendorStatus: SYNTHETIC_VENDOR_STATUS.notActive, externalId: stream.externalId };
  }

  private historyOf(livestreamId: string): LivestreamHistory {
    let history = this.livestreamHistory.get(livestreamId);
    if (!history) {
      history = { wentLive: false, stopRequested: false };
      this.livestreamHistory.set(livestreamId, history);
    }
    return history;
  }

  private recordingStatus(recording: VendorRecording): RecordingStatus {
    return mapRecordingStatus(this.options.recordingStatus, recording.status);
  }

  /** A recording as an API answer or a webhook reports it, mapped to our model. */
  observeRecording(recording: VendorRecording): VendorObservation {
    const status = this.recordingStatus(recording);
    const assets = status === 'COMPLETED' ? recordingAssets(recording) : [];
    return {
      status,
      vendorStatus: recording.status ?? SYNTHETIC_VENDOR_STATUS.unknown,
      externalId: recording.id,
      sessionId: recording.session_id ?? null,
      ...(assets.length > 0 ? { assets } : {}),
      ...(status === 'FAILED'
        ? {
            failureReason: `${this.id} reported the recording ${recording.status}${recording.stop_reason ? `: ${recording.stop_reason}` : ''}`,
          }
        : {}),
      ...withRaw(recording),
    };
  }

  private requireExternalId(stream: StreamRef): string {
    if (!stream.externalId) {
      throw new ProviderError('PROVIDER_REJECTED', this.id, `${this.id} has no id for this stream yet`);
    }
    return stream.externalId;
  }
}

/** `raw` for an object read from the vendor's API; none for one a webhook delivered (its body is the payload). */
function withRaw(parsed: VendorLivestream | VendorRecording): { raw?: unknown } {
  const raw = vendorAnswer(parsed);
  return raw === undefined ? {} : { raw };
}

/** The files of an uploaded recording: the composite video, and the audio file when one was asked for. */
export function recordingAssets(recording: VendorRecording): AssetInput[] {
  const urlExpiresAt = toDate(recording.download_url_expiry);
  const assets: AssetInput[] = [];
  if (recording.download_url) {
    assets.push({
      externalId: recording.id,
      type: 'composite',
      path: recording.output_file_name ?? null,
      size: recording.file_size,
      durationSeconds: recording.recording_duration,
      url: recording.download_url,
      urlExpiresAt,
    });
  }
  if (recording.audio_download_url) {
    assets.push({
      externalId: `${recording.id}:audio`,
      type: 'audio',
      durationSeconds: recording.recording_duration,
      url: recording.audio_download_url,
      urlExpiresAt,
    });
  }
  return assets;
}

function toDate(value: string | null | undefined): Date | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}
