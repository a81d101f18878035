import { ProviderError } from '../domain/errors.js';
import type { LivestreamStatus, RecordingStatus, StreamKind } from '../domain/status.js';
import type { AssetInput, VendorObservation } from '../domain/types.js';
import type {
  Provider,
  ProviderDefinition,
  StartLivestreamRequest,
  StartRecordingRequest,
  StreamRef,
  VendorEventSink,
} from './provider.js';

/**
 * The built-in sandbox: a simulated vendor that needs no account. It keeps its own jobs in memory,
 * answers starts and stops like a vendor API, moves each job one step every `stepMs`, and reports
 * each step through the same intake a real vendor's webhooks reach. Its read API answers polls.
 *
 * Room ids starting with `reject-` make it refuse a start (like a vendor 4xx), and `unavailable-`
 * makes it fail like a vendor that is down, so failure paths can be tried without a real vendor.
 */

type SandboxLivestreamStatus = 'starting' | 'live' | 'stopping' | 'stopped';
type SandboxRecordingStatus = 'starting' | 'recording' | 'stopping' | 'uploading' | 'completed';

export const SANDBOX_LIVESTREAM_STATUS: Record<SandboxLivestreamStatus, LivestreamStatus> = {
  starting: 'STARTING',
  live: 'LIVE',
  stopping: 'STOPPING',
  stopped: 'STOPPED',
};

export const SANDBOX_RECORDING_STATUS: Record<SandboxRecordingStatus, RecordingStatus> = {
  starting: 'STARTING',
  recording: 'RECORDING',
  stopping: 'STOPPING',
  uploading: 'UPLOADING',
  completed: 'COMPLETED',
};

interface SandboxJob {
  kind: StreamKind;
  id: string;
  roomId: string;
  sessionId: string;
  status: string;
  startedAt: number;
  timer: NodeJS.Timeout | null;
  asset?: AssetInput;
}

export interface SandboxOptions {
  stepMs: number;
  report: VendorEventSink;
}

/** Always there: it needs no credentials, and reports its steps in process rather than over HTTP. */
export const sandbox: ProviderDefinition = {
  id: 'SANDBOX',
  capabilities: { livestreams: true, recordings: true, webhooks: true },
  create: (config, context) => new SandboxProvider({ stepMs: config.sandboxStepMs, report: context.report }),
};

export class SandboxProvider implements Provider {
  readonly id = 'SANDBOX' as const;
  readonly configured = true;
  readonly capabilities = sandbox.capabilities;
  private readonly jobs = new Map<string, SandboxJob>();
  private closed = false;

  constructor(private readonly options: SandboxOptions) {}

  async startLivestream(request: StartLivestreamRequest): Promise<VendorObservation> {
    const job = this.createJob('livestream', request.roomId);
    this.schedule(job, 'live');
    return this.observe(job);
  }

  async stopLivestream(stream: StreamRef): Promise<VendorObservation> {
    const job = this.requireJob(stream);
    if (job.status === 'starting' || job.status === 'live') {
      this.move(job, 'stopping', false);
      this.schedule(job, 'stopped');
    }
    return this.observe(job);
  }

  async fetchLivestream(stream: StreamRef): Promise<VendorObservation | null> {
    const job = stream.externalId ? this.jobs.get(stream.externalId) : undefined;
    return job ? this.observe(job) : null;
  }

  async startRecording(request: StartRecordingRequest): Promise<VendorObservation> {
    const job = this.createJob('recording', request.roomId);
    this.schedule(job, 'recording');
    return this.observe(job);
  }

  async stopRecording(stream: StreamRef): Promise<VendorObservation> {
    const job = this.requireJob(stream);
    if (job.status === 'starting' || job.status === 'recording') {
      this.move(job, 'stopping', false);
      this.schedule(job, 'uploading');
    }
    return this.observe(job);
  }

  async fetchRecording(stream: StreamRef): Promise<VendorObservation | null> {
    return this.fetchLivestream(stream);
  }

  close(): void {
    this.closed = true;
    for (const job of this.jobs.values()) if (job.timer) clearTimeout(job.timer);
  }

  private createJob(kind: StreamKind, roomId: string): SandboxJob {
    if (roomId.startsWith('reject-')) {
      throw new ProviderError('PROVIDER_REJECTED', this.id, `Sandbox refused room ${roomId}`, 400);
    }
    if (roomId.startsWith('unavailable-')) {
      throw new ProviderError('PROVIDER_UNAVAILABLE', this.id, 'Sandbox is unavailable', 503);
    }
    const job: SandboxJob = {
      kind,
      id: `sbx_${kind === 'livestream' ? 'ls' : 'rec'}_${crypto.randomUUID()}`,
      roomId,
      sessionId: `sbx_session_${roomId}`,
      status: 'starting',
      startedAt: Date.now(),
      timer: null,
    };
    this.jobs.set(job.id, job);
    return job;
  }

  private requireJob(stream: StreamRef): SandboxJob {
    const job = stream.externalId ? this.jobs.get(stream.externalId) : undefined;
    if (!job) {
      throw new ProviderError('PROVIDER_REJECTED', this.id, `Sandbox has no job ${stream.externalId}`, 404);
    }
    return job;
  }

  /** After one step, move the job and report it like a webhook; recordings finish by themselves. */
  private schedule(job: SandboxJob, next: string): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = setTimeout(() => {
      job.timer = null;
      if (this.closed) return;
      this.move(job, next, true);
      if (next === 'uploading') this.schedule(job, 'completed');
    }, this.options.stepMs);
    job.timer.unref();
  }

  private move(job: SandboxJob, status: string, report: boolean): void {
    job.status = status;
    if (status === 'completed') {
      job.asset = {
        externalId: `${job.id}_mp4`,
        type: 'room-composite',
        path: `sandbox://recordings/${job.roomId}/${job.id}.mp4`,
        size: 1_048_576,
        durationSeconds: Math.max(1, Math.round((Date.now() - job.startedAt) / 1000)),
        url: `https://sandbox.invalid/recordings/${job.id}.mp4`,
        urlExpiresAt: null,
      };
    }
    if (!report) return;
    this.options.report({
      provider: this.id,
      kind: job.kind,
      externalId: job.id,
      roomId: job.roomId,
      sessionId: job.sessionId,
      eventId: `${job.id}:${status}`,
      observation: this.observe(job),
      payload: { type: `${job.kind}.${status}`, id: job.id, room_id: job.roomId, status, at: Date.now() },
    });
  }

  private observe(job: SandboxJob): VendorObservation {
    const status =
      job.kind === 'livestream'
        ? SANDBOX_LIVESTREAM_STATUS[job.status as SandboxLivestreamStatus]
        : SANDBOX_RECORDING_STATUS[job.status as SandboxRecordingStatus];
    return {
      status,
      vendorStatus: job.status,
      externalId: job.id,
      sessionId: job.sessionId,
      ...(job.kind === 'livestream'
        ? {
            playbackUrl: `https://sandbox.invalid/live/${job.id}/index.m3u8`,
            ingest: { rtmpUrl: 'rtmp://sandbox.invalid/live', streamKey: `sk_${job.id}`, whipUrl: null },
          }
        : {}),
      ...(job.asset ? { assets: [job.asset] } : {}),
      raw: snapshot(job),
    };
  }
}

/** The job as the sandbox's API would answer it: what history keeps of a start, stop or poll. */
function snapshot(job: SandboxJob): Record<string, unknown> {
  return {
    id: job.id,
    kind: job.kind,
    room_id: job.roomId,
    session_id: job.sessionId,
    status: job.status,
    started_at: new Date(job.startedAt).toISOString(),
    ...(job.kind === 'livestream'
      ? {
          playback_url: `https://sandbox.invalid/live/${job.id}/index.m3u8`,
          rtmp: { url: 'rtmp://sandbox.invalid/live', stream_key: `sk_${job.id}` },
        }
      : {}),
    ...(job.asset ? { asset: { ...job.asset } } : {}),
  };
}
