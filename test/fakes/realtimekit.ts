import { generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake of the REST API Cloudflare RealtimeKit and Dyte v2 share (same paths below the base, same
 * `{success, data}` envelope, same objects), as a real HTTP server on a free port. The vendor
 * specific parts (base path, credential check, error envelope, livestream statuses) come from
 * `test/fakes/cloudflare.ts` and `test/fakes/dyte.ts`.
 */

export interface RealtimeKitFakeFlavor {
  /** Everything before `/meetings`, `/livestreams`, `/recordings`. */
  basePath: string;
  /** True when the `Authorization` header carries the right credential. */
  authorize(authorization: string | undefined): boolean;
  /** The vendor's answer to a wrong or missing credential. */
  unauthorized: { status: number; body: unknown };
  /** The vendor's error envelope around a message. */
  errorBody(message: string, code: number): unknown;
  /** Status of a livestream right after its start, and once stopped. */
  livestreamStartStatus: string;
  livestreamStoppedStatus: string;
  /** Whether `GET /livestreams/{id}` exists (RealtimeKit) or not (Dyte). */
  readOneLivestream: boolean;
  /** Fields only this vendor adds to the active-livestream answer. */
  activeLivestreamExtras?: (livestream: FakeLivestream) => Record<string, unknown>;
  /** Fields this vendor answers on a start (RealtimeKit's are exactly five). */
  startLivestreamFields: readonly (keyof FakeLivestream)[];
  /** Webhook headers: `<prefix>-signature`, `<prefix>-uuid`, `<prefix>-webhook-id`. */
  webhookHeaderPrefix: string;
  /** Whether `livestreaming.statusUpdate` carries the meeting and stream details (RealtimeKit) or only `{event, streamId, status}` (Dyte). */
  livestreamWebhookDetails: boolean;
}

/** How a webhook is sent: signed as the vendor does, or spoiled the ways an attacker would. */
export interface WebhookSendOptions {
  /** `valid` (default): the vendor's key; `forged`: another key; `none`: no signature header. */
  signature?: 'valid' | 'forged' | 'none';
  /** Change the body after signing it. */
  tamper?: boolean;
  /** The delivery id (`<prefix>-uuid`); a fresh one by default. Reuse it to redeliver. */
  uuid?: string;
  /** The exact bytes to sign and send instead of `JSON.stringify(payload)`. */
  raw?: string | Buffer;
}

export interface WebhookResult {
  status: number;
  body: any;
  uuid: string;
}

/** A start the fake has carried out but not answered yet (see `holdNextStart`). */
export interface StartGate {
  /** Resolves with the vendor id of what the start created. */
  created: Promise<string>;
  /** Lets the start's answer go out. */
  release(): void;
}

interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}
let vendorKeys: KeyPair | null = null;
let attackerKeys: KeyPair | null = null;
/** RSA key pairs are slow to make: one for "the vendor" and one for "an attacker", per test process. */
function keys(which: 'vendor' | 'attacker'): KeyPair {
  if (which === 'vendor') {
    vendorKeys ??= generateKeyPairSync('rsa', { modulusLength: 2048 });
    return vendorKeys;
  }
  attackerKeys ??= generateKeyPairSync('rsa', { modulusLength: 2048 });
  return attackerKeys;
}

export interface RecordedRequest {
  method: string;
  /** Path below the base path (`/meetings/m1/livestreams`), query string excluded. */
  path: string;
  /** Full path as received. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** When it arrived (ms since epoch). */
  at: number;
}

export type FaultMode = '500' | '429' | 'hang' | 'malformed' | 'success-false';

export interface Fault {
  mode: FaultMode;
  /** How many matching calls get the fault (default 1). */
  times?: number;
  /** For 429: the `Retry-After` header, in seconds. */
  retryAfterSeconds?: number;
  /**
   * Act on the call first, then answer the fault: the vendor did the work but the answer was
   * lost (for `500`, `hang`, `malformed`).
   */
  actFirst?: boolean;
  /** Only calls with this method / a path (below the base) matching this pattern. */
  method?: string;
  path?: RegExp;
}

export interface FakeLivestream {
  id: string;
  meeting_id: string;
  name: string | null;
  status: string;
  ingest_server: string;
  stream_key: string;
  playback_url: string;
  created_at: string;
  updated_at: string;
  /** Still the meeting's active livestream. */
  active: boolean;
  video_config: unknown;
}

export interface FakeRecording {
  id: string;
  meeting_id: string;
  status: string;
  session_id: string | null;
  output_file_name: string;
  invoked_time: string;
  started_time: string | null;
  stopped_time: string | null;
  recording_duration: number | null;
  download_url: string | null;
  download_url_expiry: string | null;
  file_size: number | null;
  stop_reason: string | null;
  video_config: unknown;
}

const ACTIVE_RECORDING = new Set(['INVOKED', 'RECORDING', 'PAUSED']);

class HttpAnswer {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

export class RealtimeKitFake {
  readonly requests: RecordedRequest[] = [];
  readonly livestreams = new Map<string, FakeLivestream>();
  readonly recordings = new Map<string, FakeRecording>();
  url = '';
  /** Delay before answering reads (GET), so that two reads of one object overlapping show. */
  readDelayMs = 0;
  /** Paths of reads that arrived while another read of the same path was still unanswered. */
  readonly overlappingReads: string[] = [];
  private readonly readsInFlight = new Map<string, number>();
  private readonly faults: (Fault & { left: number })[] = [];
  private readonly server: Server;
  private readonly startGates: { resolveCreated: (id: string) => void; released: Promise<void> }[] = [];

  constructor(private readonly flavor: RealtimeKitFakeFlavor) {
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify(this.flavor.errorBody(String(error), 500)));
      });
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The next matching call(s) fail this way. */
  fail(fault: Fault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  // ── webhooks ──────────────────────────────────────────────────────────────

  /** The PEM public key the vendor's dashboard shows, to verify its webhooks. */
  get webhookPublicKeyPem(): string {
    return keys('vendor').publicKey.export({ type: 'spki', format: 'pem' }).toString();
  }

  /** base64 RSA-SHA256 (PKCS#1 v1.5) over the raw body, as the vendor signs. */
  signWebhook(raw: string | Buffer, key: 'vendor' | 'attacker' = 'vendor'): string {
    return sign('sha256', Buffer.from(raw), keys(key).privateKey).toString('base64');
  }

  /** POSTs a webhook to `url` the way the vendor does (or spoiled, see options). */
  async sendWebhook(url: string, payload: unknown, options: WebhookSendOptions = {}): Promise<WebhookResult> {
    const raw = Buffer.from(options.raw ?? JSON.stringify(payload));
    const uuid = options.uuid ?? randomUUID();
    const prefix = this.flavor.webhookHeaderPrefix;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      [`${prefix}-uuid`]: uuid,
      [`${prefix}-webhook-id`]: 'webhook-0001',
    };
    const signature = options.signature ?? 'valid';
    if (signature !== 'none') {
      headers[`${prefix}-signature`] = this.signWebhook(raw, signature === 'valid' ? 'vendor' : 'attacker');
    }
    let body = raw;
    if (options.tamper) {
      // Same length, one byte different: a changed status, amount or id.
      body = Buffer.from(raw);
      const index = body.lastIndexOf('"') > 0 ? body.lastIndexOf('"') - 1 : 0;
      body[index] = body[index] === 0x41 ? 0x42 : 0x41;
    }
    const response = await fetch(url, { method: 'POST', headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // kept as text
    }
    return { status: response.status, body: parsed, uuid };
  }

  /** `livestreaming.statusUpdate` for a livestream, with its current status unless another is given. */
  livestreamWebhook(id: string, status?: string, sessionId = 'session-1'): Record<string, unknown> {
    const livestream = this.livestreams.get(id);
    if (!livestream) throw new Error(`fake has no livestream ${id}`);
    const base = { event: 'livestreaming.statusUpdate', streamId: id, status: status ?? livestream.status };
    if (!this.flavor.livestreamWebhookDetails) return base;
    return {
      ...base,
      playbackUrl: livestream.playback_url,
      ingestServer: livestream.ingest_server,
      streamKey: livestream.stream_key,
      meeting: this.meetingObject(livestream.meeting_id, sessionId),
    };
  }

  /** `recording.statusUpdate` for a recording as the fake holds it (set its status first). */
  recordingWebhook(id: string, status?: string): Record<string, unknown> {
    const recording = this.recordings.get(id);
    if (!recording) throw new Error(`fake has no recording ${id}`);
    return {
      event: 'recording.statusUpdate',
      recording: {
        id: recording.id,
        status: status ?? recording.status,
        meetingId: recording.meeting_id,
        sessionId: recording.session_id,
        outputFileName: recording.output_file_name,
        invokedTime: recording.invoked_time,
        startedTime: recording.started_time,
        stoppedTime: recording.stopped_time,
        recordingDuration: recording.recording_duration,
        downloadUrl: recording.download_url,
        downloadUrlExpiry: recording.download_url_expiry,
        fileSize: recording.file_size,
        stopReason: recording.stop_reason,
      },
      meeting: this.meetingObject(recording.meeting_id, recording.session_id ?? 'session-1'),
    };
  }

  /** `meeting.started` / `meeting.ended`. */
  meetingWebhook(event: 'meeting.started' | 'meeting.ended', meetingId: string, sessionId = 'session-1') {
    return { event, meeting: this.meetingObject(meetingId, sessionId) };
  }

  /** `meeting.participantJoined` / `meeting.participantLeft`; `extra` adds participant fields. */
  participantWebhook(
    event: 'meeting.participantJoined' | 'meeting.participantLeft',
    meetingId: string,
    peerId: string,
    extra: Record<string, unknown> = {},
    sessionId = 'session-1',
  ) {
    const now = new Date().toISOString();
    return {
      event,
      meeting: this.meetingObject(meetingId, sessionId),
      participant: {
        peerId,
        userDisplayName: `User ${peerId}`,
        customParticipantId: `custom-${peerId}`,
        joinedAt: now,
        ...(event === 'meeting.participantLeft' ? { leftAt: now } : {}),
        ...extra,
      },
    };
  }

  /**
   * The next start (livestream or recording) is carried out at once but answered only after
   * `release()`: lets a test deliver webhooks before the start call has its answer.
   */
  holdNextStart(): StartGate {
    let resolveCreated: (id: string) => void = () => {};
    let release: () => void = () => {};
    const created = new Promise<string>((resolve) => {
      resolveCreated = resolve;
    });
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.startGates.push({ resolveCreated, released });
    return { created, release };
  }

  private meetingObject(meetingId: string, sessionId: string) {
    return {
      id: meetingId,
      sessionId,
      title: `Meeting ${meetingId}`,
      status: 'LIVE',
      createdAt: new Date().toISOString(),
      startedAt: new Date().toISOString(),
      organizedBy: { id: 'org-1', name: 'Fake Org' },
    };
  }

  /** Calls received with this method whose path (below the base) matches. */
  requestsTo(method: string, path: RegExp): RecordedRequest[] {
    return this.requests.filter((request) => request.method === method && path.test(request.path));
  }

  /** Sets the status the vendor reports; `active: false` takes it off the meeting's active livestream. */
  setLivestreamStatus(id: string, status: string, options: { active?: boolean } = {}): void {
    const livestream = this.livestreams.get(id);
    if (!livestream) throw new Error(`fake has no livestream ${id}`);
    livestream.status = status;
    livestream.updated_at = new Date().toISOString();
    if (options.active !== undefined) livestream.active = options.active;
  }

  /** Sets a recording's status, filling what the vendor fills at that point (session, file). */
  setRecordingStatus(id: string, status: string, fields: Partial<FakeRecording> = {}): void {
    const recording = this.recordings.get(id);
    if (!recording) throw new Error(`fake has no recording ${id}`);
    recording.status = status;
    const now = new Date().toISOString();
    if (status === 'RECORDING') {
      recording.started_time ??= now;
      recording.session_id ??= randomUUID();
    }
    if (status === 'UPLOADING' || status === 'UPLOADED' || status === 'ERRORED') recording.stopped_time ??= now;
    if (status === 'UPLOADED') {
      recording.recording_duration ??= 42;
      recording.file_size ??= 3_145_728;
      recording.download_url ??= `https://storage.invalid/${recording.output_file_name}?signature=abc`;
      recording.download_url_expiry ??= new Date(Date.now() + 7 * 86_400_000).toISOString();
    }
    Object.assign(recording, fields);
  }

  /** A livestream started outside our service (another client, `live_stream_on_start`). */
  addLivestream(meetingId: string, status = 'LIVE'): FakeLivestream {
    const { id } = this.startLivestream(meetingId, {}) as { id: string };
    this.setLivestreamStatus(id, status);
    const livestream = this.livestreams.get(id);
    if (!livestream) throw new Error('fake lost a livestream');
    return livestream;
  }

  activeLivestream(meetingId: string): FakeLivestream | undefined {
    return [...this.livestreams.values()].find((l) => l.meeting_id === meetingId && l.active);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const raw = await readBody(request);
    const url = new URL(request.url ?? '/', 'http://fake');
    const method = request.method ?? 'GET';
    const below = url.pathname.startsWith(`${this.flavor.basePath}/`)
      ? url.pathname.slice(this.flavor.basePath.length)
      : null;
    let body: unknown = raw;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        // kept as text: answered 400 below
      }
    }
    this.requests.push({
      method,
      path: below ?? url.pathname,
      url: request.url ?? '/',
      headers: request.headers,
      body,
      at: Date.now(),
    });

    if (method === 'GET' && this.readDelayMs > 0) {
      const key = below ?? url.pathname;
      const open = this.readsInFlight.get(key) ?? 0;
      if (open > 0) this.overlappingReads.push(key);
      this.readsInFlight.set(key, open + 1);
      await new Promise((resolve) => setTimeout(resolve, this.readDelayMs));
      this.readsInFlight.set(key, (this.readsInFlight.get(key) ?? 1) - 1);
    }

    const fault = this.takeFault(method, below ?? url.pathname);
    if (fault?.actFirst && below !== null && this.flavor.authorize(request.headers.authorization)) {
      try {
        this.route(method, below, body);
      } catch {
        // the fault answers anyway
      }
    }
    if (fault) {
      switch (fault.mode) {
        case 'hang':
          return; // never answers; close() drops the connection
        case 'malformed':
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end('<html>upstream said something that is not JSON');
          return;
        case '500':
          return send(response, 500, this.flavor.errorBody('Internal server error', 500));
        case '429':
          response.setHeader('retry-after', String(fault.retryAfterSeconds ?? 1));
          return send(response, 429, this.flavor.errorBody('Too many requests', 429));
        case 'success-false':
          return send(response, 200, this.flavor.errorBody('Simulated refusal', 1000));
      }
    }

    if (!this.flavor.authorize(request.headers.authorization)) {
      return send(response, this.flavor.unauthorized.status, this.flavor.unauthorized.body);
    }
    if (below === null) return send(response, 404, this.flavor.errorBody('Route not found', 404));
    if (raw.length > 0 && typeof body === 'string') {
      return send(response, 400, this.flavor.errorBody('Request body is not valid JSON', 400));
    }
    try {
      const data = this.route(method, below, body);
      const isStart = method === 'POST' && (/^\/meetings\/[^/]+\/livestreams$/.test(below) || below === '/recordings');
      const gate = isStart ? this.startGates.shift() : undefined;
      if (gate) {
        gate.resolveCreated((data as { id: string }).id);
        await gate.released;
      }
      return send(response, 200, { success: true, data });
    } catch (error) {
      if (error instanceof HttpAnswer) return send(response, error.status, error.body);
      throw error;
    }
  }

  private takeFault(method: string, path: string): Fault | undefined {
    const index = this.faults.findIndex(
      (fault) => (!fault.method || fault.method === method) && (!fault.path || fault.path.test(path)),
    );
    if (index < 0) return undefined;
    const fault = this.faults[index]!;
    fault.left -= 1;
    if (fault.left <= 0) this.faults.splice(index, 1);
    return fault;
  }

  private route(method: string, path: string, body: unknown): unknown {
    const segments = path.split('/').filter(Boolean).map(decodeURIComponent);
    const [first, second, third, fourth] = segments;
    if (first === 'meetings' && second && segments.length >= 3) {
      if (method === 'POST' && third === 'livestreams' && segments.length === 3) {
        return this.startLivestream(second, body);
      }
      if (method === 'GET' && third === 'active-livestream' && segments.length === 3) {
        return this.readActiveLivestream(second);
      }
      if (method === 'POST' && third === 'active-livestream' && fourth === 'stop' && segments.length === 4) {
        return this.stopActiveLivestream(second);
      }
    }
    if (
      first === 'livestreams' &&
      second &&
      segments.length === 2 &&
      method === 'GET' &&
      this.flavor.readOneLivestream
    ) {
      return this.readLivestream(second);
    }
    if (first === 'recordings') {
      if (method === 'POST' && segments.length === 1) return this.startRecording(body);
      if (method === 'GET' && second === 'active-recording' && third && segments.length === 3) {
        const active = [...this.recordings.values()].find(
          (r) => r.meeting_id === third && ACTIVE_RECORDING.has(r.status),
        );
        if (!active) throw this.error(404, 'No active recording found for the meeting');
        return this.recordingView(active);
      }
      if (second && segments.length === 2) {
        const recording = this.recordings.get(second);
        if (!recording) throw this.error(404, 'Recording not found');
        if (method === 'GET') return this.recordingView(recording);
        if (method === 'PUT') return this.actOnRecording(recording, body);
      }
    }
    throw this.error(404, 'Route not found');
  }

  private startLivestream(meetingId: string, body: unknown): unknown {
    const input = isRecord(body) ? body : {};
    if (this.activeLivestream(meetingId)) throw this.error(400, 'Meeting is already being livestreamed');
    const now = new Date().toISOString();
    const livestream: FakeLivestream = {
      id: randomUUID(),
      meeting_id: meetingId,
      name: typeof input.name === 'string' ? input.name : null,
      status: this.flavor.livestreamStartStatus,
      ingest_server: 'rtmps://live.fake.invalid:443/live/',
      stream_key: `sk_${randomUUID().replaceAll('-', '')}`,
      playback_url: `https://playback.fake.invalid/${randomUUID()}/manifest/video.m3u8`,
      created_at: now,
      updated_at: now,
      active: true,
      video_config: input.video_config ?? null,
    };
    this.livestreams.set(livestream.id, livestream);
    return Object.fromEntries(this.flavor.startLivestreamFields.map((field) => [field, livestream[field]]));
  }

  private readActiveLivestream(meetingId: string): unknown {
    const livestream = this.activeLivestream(meetingId);
    if (!livestream) throw this.error(404, 'No active livestream found for the meeting');
    return { ...this.livestreamView(livestream), ...this.flavor.activeLivestreamExtras?.(livestream) };
  }

  private stopActiveLivestream(meetingId: string): unknown {
    const livestream = this.activeLivestream(meetingId);
    if (!livestream) throw this.error(404, 'No active livestream found for the meeting');
    livestream.active = false;
    livestream.status = this.flavor.livestreamStoppedStatus;
    livestream.updated_at = new Date().toISOString();
    return { message: 'livestream stopped' };
  }

  private readLivestream(id: string): unknown {
    const livestream = this.livestreams.get(id);
    if (!livestream) throw this.error(404, 'Livestream not found');
    return {
      livestream: { ...this.livestreamView(livestream), disabled: 'false' },
      session: null,
      paging: { total_count: 0, start_offset: 0, end_offset: 0 },
    };
  }

  private livestreamView(livestream: FakeLivestream): Record<string, unknown> {
    const { active: _active, video_config: _video, ...view } = livestream;
    return view;
  }

  private startRecording(body: unknown): unknown {
    if (!isRecord(body) || typeof body.meeting_id !== 'string' || !body.meeting_id) {
      throw this.error(400, 'meeting_id is required');
    }
    const meetingId = body.meeting_id;
    const busy = [...this.recordings.values()].some(
      (r) => r.meeting_id === meetingId && ACTIVE_RECORDING.has(r.status),
    );
    if (busy && body.allow_multiple_recordings !== true) throw this.error(400, 'Meeting is already being recorded');
    const recording: FakeRecording = {
      id: randomUUID(),
      meeting_id: meetingId,
      status: 'INVOKED',
      session_id: null,
      output_file_name: `${meetingId}_${Date.now()}.mp4`,
      invoked_time: new Date().toISOString(),
      started_time: null,
      stopped_time: null,
      recording_duration: null,
      download_url: null,
      download_url_expiry: null,
      file_size: null,
      stop_reason: null,
      video_config: body.video_config ?? null,
    };
    this.recordings.set(recording.id, recording);
    return this.recordingView(recording);
  }

  private actOnRecording(recording: FakeRecording, body: unknown): unknown {
    const action = isRecord(body) ? body.action : undefined;
    if (action === 'stop') {
      if (!ACTIVE_RECORDING.has(recording.status)) throw this.error(400, 'Recording is not active');
      // Acknowledged as it was when the stop arrived; the worker then uploads.
      const acknowledged = this.recordingView(recording);
      this.setRecordingStatus(recording.id, 'UPLOADING', { stop_reason: 'API_CALL' });
      return acknowledged;
    } else if (action === 'pause') {
      if (recording.status !== 'RECORDING') throw this.error(400, 'Recording is not running');
      recording.status = 'PAUSED';
    } else if (action === 'resume') {
      if (recording.status !== 'PAUSED') throw this.error(400, 'Recording is not paused');
      recording.status = 'RECORDING';
    } else {
      throw this.error(400, 'action must be one of stop, pause, resume');
    }
    return this.recordingView(recording);
  }

  private recordingView(recording: FakeRecording): Record<string, unknown> {
    const { video_config: _video, meeting_id: _meeting, ...view } = recording;
    return view;
  }

  private error(status: number, message: string): HttpAnswer {
    return new HttpAnswer(status, this.flavor.errorBody(message, status));
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}
