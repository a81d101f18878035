import { randomBytes, randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { jwtVerify } from 'jose';

/**
 * A fake 100ms REST API (v2) over real HTTP, following vendors.md: management-token auth checked
 * like 100ms does (HS256 signature with the app secret, `access_key`, `type`, `version`, `jti`,
 * `iat`/`nbf`/`exp`), live streams, recordings, recording assets and pre-signed URLs, errors as
 * `{code, message, details}`. It records every request and can be told to fail.
 */

export type HmsStatus = 'starting' | 'running' | 'stopping' | 'post_processing' | 'completed' | 'failed';
export type HmsJobKind = 'live-streams' | 'recordings';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export type FailureMode = 'error500' | 'rateLimit' | 'hang' | 'malformed';

export interface FailureOptions {
  /** How many matching requests fail (default 1). */
  times?: number;
  method?: string;
  /** Matched against the path after `/v2`, e.g. /\/start$/. */
  path?: RegExp;
  /** Seconds sent in `Retry-After` with a 429 (default 1). */
  retryAfterSeconds?: number;
  /** Do the work first (create, stop…), then fail the answer: the "did it or didn't it" case. */
  act?: boolean;
}

interface FailureRule extends Required<Pick<FailureOptions, 'times' | 'retryAfterSeconds' | 'act'>> {
  mode: FailureMode;
  method?: string;
  path?: RegExp;
}

export interface FakeJob {
  id: string;
  room_id: string;
  session_id: string;
  status: string;
  meeting_url: string | null;
  created_at: string;
  started_at: string | null;
  updated_at: string;
  started_by: string;
  stopped_at: string | null;
  stopped_by: string;
  recording_assets: FakeAsset[] | null;
  [field: string]: unknown;
}

export interface FakeAsset {
  id: string;
  job_id: string;
  room_id: string;
  session_id: string;
  type: string;
  status: string;
  path: string;
  size: number;
  duration: number;
  created_at: string;
}

interface Answer {
  status: number;
  body: unknown;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PAGE_LIMIT = 10;

const hmsId = () => randomBytes(12).toString('hex');
const error = (status: number, message: string, details: string[] = []): Answer => ({
  status,
  body: { code: status, message, details },
});

/** Where and how the fake delivers webhooks, as configured on the 100ms dashboard. */
export interface HmsWebhookTarget {
  url: string;
  /** The secret custom headers 100ms sends unchanged with every delivery. */
  headers: Record<string, string>;
}

export interface HmsWebhookDelivery {
  status: number;
  body: unknown;
  /** The envelope id: send it again (`id`) to replay the delivery as a 100ms retry would. */
  id: string;
  envelope: HmsWebhookEnvelope;
}

export interface HmsWebhookEnvelope {
  version: string;
  id: string;
  app_id: string;
  account_id: string;
  timestamp: string;
  type: string;
  data: Record<string, unknown>;
}

export class FakeHms {
  readonly requests: RecordedRequest[] = [];
  /** Set to deliver webhooks (`sendWebhook`). */
  webhookTarget: HmsWebhookTarget | null = null;
  readonly appId = hmsId();
  readonly accountId = hmsId();
  readonly jobs: Record<HmsJobKind, Map<string, FakeJob>> = { 'live-streams': new Map(), recordings: new Map() };
  readonly assets = new Map<string, FakeAsset>();
  /** When true, a completed recording carries its assets in `recording_assets` too. */
  assetsOnObject = false;
  url = '';
  private readonly failures: FailureRule[] = [];
  private readonly seenTokenIds = new Set<string>();
  private readonly revokedTokenIds = new Set<string>();
  private readonly server: Server;
  private readonly secret: Uint8Array;

  private constructor(
    readonly accessKey: string,
    appSecret: string,
  ) {
    this.secret = new TextEncoder().encode(appSecret);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((cause: unknown) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 500, message: String(cause), details: [] }));
      });
    });
  }

  static async start(credentials: { accessKey: string; appSecret: string }): Promise<FakeHms> {
    const fake = new FakeHms(credentials.accessKey, credentials.appSecret);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    const { port } = fake.server.address() as AddressInfo;
    fake.url = `http://127.0.0.1:${port}/v2`;
    return fake;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The next matching request(s) fail in `mode`. */
  fail(mode: FailureMode, options: FailureOptions = {}): void {
    this.failures.push({
      mode,
      times: options.times ?? 1,
      retryAfterSeconds: options.retryAfterSeconds ?? 1,
      act: options.act ?? false,
      method: options.method,
      path: options.path,
    });
  }

  /** Drops every failure still armed, so later requests are answered normally. */
  clearFailures(): void {
    this.failures.length = 0;
  }

  /** Moves a live stream or recording to a status, as 100ms would on its own. */
  setStatus(id: string, status: string): void {
    const kind: HmsJobKind = this.jobs['live-streams'].has(id) ? 'live-streams' : 'recordings';
    const job = this.jobs[kind].get(id);
    if (!job) throw new Error(`fake 100ms has no job ${id}`);
    const now = new Date().toISOString();
    job.status = status;
    job.updated_at = now;
    if (status === 'running' && !job.started_at) job.started_at = now;
    if (['stopping', 'completed', 'failed'].includes(status) && !job.stopped_at) job.stopped_at = now;
    if (kind === 'recordings' && status === 'completed') this.createAssets(job);
  }

  /**
   * POSTs one webhook to the configured target exactly as 100ms does: JSON envelope
   * `{version, id, app_id, account_id, timestamp, type, data}` with a fresh uuid as `id`, and the
   * dashboard's custom headers. `id` replays an earlier delivery; `headers` replaces the secret
   * headers (a forged or unsigned delivery).
   */
  async sendWebhook(
    type: string,
    data: Record<string, unknown>,
    options: { id?: string; headers?: Record<string, string>; timestamp?: Date } = {},
  ): Promise<HmsWebhookDelivery> {
    const target = this.webhookTarget;
    if (!target) throw new Error('fake 100ms has no webhook target');
    const envelope: HmsWebhookEnvelope = {
      version: '2.0',
      id: options.id ?? randomUUID(),
      app_id: this.appId,
      account_id: this.accountId,
      timestamp: (options.timestamp ?? new Date()).toISOString(),
      type,
      data: { app_id: this.appId, ...data },
    };
    const response = await fetch(target.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(options.headers ?? target.headers) },
      body: JSON.stringify(envelope),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    return { status: response.status, body, id: envelope.id, envelope };
  }

  /**
   * A job's fields as vendors.md says 100ms puts them in its webhooks: `beam_id` for recordings,
   * `job_id` for HLS live streams, both equal to the REST id here (unconfirmed for 100ms itself).
   */
  webhookData(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    const job = this.jobs['live-streams'].get(id) ?? this.jobs.recordings.get(id);
    if (!job) throw new Error(`fake 100ms has no job ${id}`);
    const idField = this.jobs['live-streams'].has(id) ? 'job_id' : 'beam_id';
    return {
      [idField]: job.id,
      room_id: job.room_id,
      room_name: `room ${job.room_id}`,
      session_id: job.session_id,
      meeting_url: job.meeting_url,
      ...extra,
    };
  }

  /** Tokens seen so far stop being accepted, as after a secret rotation on the dashboard. */
  revokeIssuedTokens(): void {
    for (const id of this.seenTokenIds) this.revokedTokenIds.add(id);
  }

  /** Requests received, filtered by method and a path pattern (after `/v2`). */
  calls(method: string, path: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && path.test(r.path));
  }

  jobsInRoom(kind: HmsJobKind, roomId: string): FakeJob[] {
    return [...this.jobs[kind].values()].filter((job) => job.room_id === roomId);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    let bodyInvalid = false;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        bodyInvalid = true;
        body = raw;
      }
    }
    const path = url.pathname.replace(/^\/v2(?=\/)/, '');
    const method = req.method ?? 'GET';
    this.requests.push({
      method,
      path,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body,
    });

    const failure = this.takeFailure(method, path);
    if (failure && !failure.act) return this.failWith(failure, res);

    let answer: Answer;
    if (!url.pathname.startsWith('/v2/')) answer = error(404, 'Not found');
    else {
      const authFailure = await this.authenticate(req.headers.authorization);
      if (authFailure) answer = authFailure;
      else if (bodyInvalid) answer = error(400, 'Invalid JSON body');
      else answer = this.route(method, path, url.searchParams, body);
    }
    if (failure) return this.failWith(failure, res);
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer.body));
  }

  private takeFailure(method: string, path: string): FailureRule | undefined {
    const rule = this.failures.find(
      (f) => f.times > 0 && (!f.method || f.method === method) && (!f.path || f.path.test(path)),
    );
    if (rule) rule.times -= 1;
    return rule;
  }

  private failWith(failure: FailureRule, res: ServerResponse): void {
    switch (failure.mode) {
      case 'hang':
        return; // never answers; close() tears the socket down
      case 'error500':
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 500, message: 'Internal server error', details: [] }));
        return;
      case 'rateLimit':
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(failure.retryAfterSeconds) });
        res.end(JSON.stringify({ code: 429, message: 'Too many requests', details: [] }));
        return;
      case 'malformed':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"id": "truncated", "status": ');
        return;
    }
  }

  /** 100ms checks the management token's signature and claims; anything off is a 401. */
  private async authenticate(header: string | undefined): Promise<Answer | null> {
    const unauthorized = (detail: string) => error(401, 'Unauthorized: invalid management token', [detail]);
    const match = /^Bearer (.+)$/.exec(header ?? '');
    if (!match?.[1]) return unauthorized('missing bearer token');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(match[1], this.secret, { algorithms: ['HS256'] }));
    } catch {
      return unauthorized('token signature or lifetime is invalid');
    }
    if (payload.access_key !== this.accessKey) return unauthorized('unknown access_key');
    if (payload.type !== 'management') return unauthorized('token type must be management');
    if (payload.version !== 2) return unauthorized('token version must be 2');
    for (const claim of ['iat', 'nbf', 'exp'] as const) {
      if (typeof payload[claim] !== 'number') return unauthorized(`missing ${claim}`);
    }
    if (typeof payload.jti !== 'string' || !UUID.test(payload.jti)) return unauthorized('jti must be a uuid');
    if (this.revokedTokenIds.has(payload.jti)) return unauthorized('token was revoked');
    this.seenTokenIds.add(payload.jti);
    return null;
  }

  private route(method: string, path: string, query: URLSearchParams, body: unknown): Answer {
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    const [resource, second, third, fourth] = parts;
    if (resource === 'live-streams' || resource === 'recordings') {
      const kind: HmsJobKind = resource;
      if (method === 'POST' && second === 'room' && third && fourth === 'start' && parts.length === 4) {
        return this.startJob(kind, third, body);
      }
      if (method === 'POST' && second === 'room' && third && fourth === 'stop' && parts.length === 4) {
        return this.stopRoom(kind, third);
      }
      if (method === 'POST' && second && third === 'stop' && parts.length === 3) return this.stopJob(kind, second);
      if (method === 'GET' && second && parts.length === 2) {
        const job = this.jobs[kind].get(second);
        return job ? { status: 200, body: this.present(kind, job) } : error(404, `${noun(kind)} not found`);
      }
      if (method === 'GET' && parts.length === 1) {
        const jobs = [...this.jobs[kind].values()].filter(
          (job) =>
            (!query.get('room_id') || job.room_id === query.get('room_id')) &&
            (!query.get('status') || job.status === query.get('status')),
        );
        return this.page(
          jobs.map((job) => this.present(kind, job)),
          query,
        );
      }
    }
    if (resource === 'recording-assets') {
      if (method === 'GET' && parts.length === 1) {
        const assets = [...this.assets.values()].filter(
          (asset) =>
            (!query.get('room_id') || asset.room_id === query.get('room_id')) &&
            (!query.get('session_id') || asset.session_id === query.get('session_id')),
        );
        return this.page(assets, query);
      }
      const asset = second ? this.assets.get(second) : undefined;
      if (method === 'GET' && parts.length === 2) {
        return asset ? { status: 200, body: asset } : error(404, 'recording asset not found');
      }
      if (method === 'GET' && third === 'presigned-url' && parts.length === 3) {
        if (!asset) return error(404, 'recording asset not found');
        const duration = Number(query.get('presign_duration') ?? '3600');
        if (!Number.isInteger(duration) || duration <= 0)
          return error(400, 'presign_duration must be a positive integer');
        return {
          status: 200,
          body: {
            id: asset.id,
            path: asset.path,
            url: `https://fake-hms-storage.invalid/${asset.id}.mp4?X-Amz-Expires=${duration}`,
            expiry: duration,
          },
        };
      }
    }
    return error(404, 'Not found');
  }

  private startJob(kind: HmsJobKind, roomId: string, body: unknown): Answer {
    const input = (body ?? {}) as Record<string, unknown>;
    if (typeof input !== 'object' || Array.isArray(input)) return error(400, 'Request body must be an object');
    if (input.meeting_url !== undefined && typeof input.meeting_url !== 'string') {
      return error(400, 'meeting_url must be a string');
    }
    if (kind === 'recordings') {
      if (typeof input.meeting_url !== 'string') return error(400, 'meeting_url is required', ['meeting_url']);
      const resolution = input.resolution as Record<string, unknown> | undefined;
      if (resolution !== undefined && (!Number.isInteger(resolution?.width) || !Number.isInteger(resolution?.height))) {
        return error(400, 'resolution must have integer width and height');
      }
      if (input.audio_only !== undefined && typeof input.audio_only !== 'boolean') {
        return error(400, 'audio_only must be a boolean');
      }
    } else {
      const recording = input.recording as Record<string, unknown> | null | undefined;
      if (recording !== undefined && (typeof recording !== 'object' || recording === null)) {
        return error(400, 'recording must be an object');
      }
      if (recording) {
        for (const flag of ['hls_vod', 'single_file_per_layer']) {
          if (recording[flag] !== undefined && typeof recording[flag] !== 'boolean') {
            return error(400, `recording.${flag} must be a boolean`);
          }
        }
      }
      if (input.destination !== undefined && typeof input.destination !== 'string') {
        return error(400, 'destination must be a string');
      }
    }
    const active = this.jobsInRoom(kind, roomId).find((job) => job.status === 'starting' || job.status === 'running');
    if (active) return error(400, `${noun(kind)} is already running in room ${roomId}`);
    const now = new Date().toISOString();
    const id = hmsId();
    const job: FakeJob = {
      id,
      room_id: roomId,
      session_id: `session-${roomId}`,
      status: 'starting',
      meeting_url: (input.meeting_url as string | undefined) ?? null,
      created_at: now,
      started_at: null,
      updated_at: now,
      started_by: '',
      stopped_at: null,
      stopped_by: '',
      recording_assets: null,
      ...(kind === 'live-streams'
        ? {
            playback: { url: `https://fake-hms-cdn.invalid/beam/${id}/master.m3u8` },
            recording: input.recording ?? null,
            destination: input.destination ?? null,
          }
        : { resolution: input.resolution ?? null, audio_only: input.audio_only ?? false }),
    };
    this.jobs[kind].set(id, job);
    return { status: 200, body: this.present(kind, job) };
  }

  private stopJob(kind: HmsJobKind, id: string): Answer {
    const job = this.jobs[kind].get(id);
    if (!job) return error(404, `${noun(kind)} not found`);
    if (job.status !== 'starting' && job.status !== 'running') {
      return error(400, `${noun(kind)} is not running`, [`status is ${job.status}`]);
    }
    this.setStatus(id, 'stopping');
    return { status: 200, body: this.present(kind, job) };
  }

  private stopRoom(kind: HmsJobKind, roomId: string): Answer {
    const stopped = this.jobsInRoom(kind, roomId).filter(
      (job) => job.status === 'starting' || job.status === 'running',
    );
    for (const job of stopped) this.setStatus(job.id, 'stopping');
    return { status: 200, body: { data: stopped.map((job) => this.present(kind, job)), limit: PAGE_LIMIT, last: '' } };
  }

  private present(kind: HmsJobKind, job: FakeJob): FakeJob {
    if (kind === 'recordings' && !this.assetsOnObject) return { ...job, recording_assets: null };
    return { ...job };
  }

  private page<T extends { id: string }>(items: T[], query: URLSearchParams): Answer {
    const limit = Math.max(1, Math.min(100, Number(query.get('limit') ?? PAGE_LIMIT) || PAGE_LIMIT));
    const start = query.get('start');
    const from = start ? items.findIndex((item) => item.id === start) + 1 : 0;
    const data = items.slice(from, from + limit);
    return { status: 200, body: { data, limit, last: data.at(-1)?.id ?? '' } };
  }

  private createAssets(job: FakeJob): void {
    if (job.recording_assets?.length) return;
    const asset: FakeAsset = {
      id: hmsId(),
      job_id: job.id,
      room_id: job.room_id,
      session_id: job.session_id,
      type: 'room-composite',
      status: 'completed',
      path: `s3://fake-hms-bucket/${job.room_id}/${job.id}/Rec-${job.room_id}.mp4`,
      size: 7_340_032,
      duration: 125,
      created_at: new Date().toISOString(),
    };
    this.assets.set(asset.id, asset);
    job.recording_assets = [asset];
  }
}

function noun(kind: HmsJobKind): string {
  return kind === 'live-streams' ? 'live stream' : 'recording';
}
