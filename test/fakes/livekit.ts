import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type JWTPayload, jwtVerify, SignJWT } from 'jose';

/**
 * A fake LiveKit server speaking the Egress Twirp contract: `POST /twirp/livekit.Egress/<Method>`
 * with JSON bodies, `Authorization: Bearer <JWT>` (HS256 with the API secret, `iss` = API key,
 * grant `video.roomRecord`), errors `{code, msg}` with Twirp's HTTP statuses. Answers are protojson:
 * zero values omitted, int64 as strings, enum names (or numbers), snake_case or camelCase names.
 */

export const EGRESS_STATUSES = [
  'EGRESS_STARTING',
  'EGRESS_ACTIVE',
  'EGRESS_ENDING',
  'EGRESS_COMPLETE',
  'EGRESS_FAILED',
  'EGRESS_ABORTED',
  'EGRESS_LIMIT_REACHED',
] as const;
export type FakeEgressStatus = (typeof EGRESS_STATUSES)[number];

const TWIRP_STATUS: Record<string, number> = {
  invalid_argument: 400,
  malformed: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  bad_route: 404,
  already_exists: 409,
  failed_precondition: 412,
  resource_exhausted: 429,
  internal: 500,
  unimplemented: 501,
  unavailable: 503,
};

export interface RecordedRequest {
  method: string;
  path: string;
  /** The Twirp method, e.g. `StartRoomCompositeEgress`. */
  rpc: string | null;
  headers: IncomingHttpHeaders;
  body: any;
  /** Claims of a token that verified. */
  claims: JWTPayload | null;
  /** When it arrived (epoch ms). */
  at: number;
}

export interface FakeEgress {
  egressId: string;
  roomId: string;
  roomName: string;
  status: FakeEgressStatus;
  /** The start request as received (camelCase). */
  request: any;
  startedAt: bigint;
  endedAt: bigint;
  updatedAt: bigint;
  error: string;
}

export type FaultKind = 'error' | 'rateLimit' | 'hang' | 'malformed';

export interface Fault {
  kind: FaultKind;
  /** Only calls to this Twirp method; every method when absent. */
  rpc?: string;
  /** How many calls it hits (default 1). */
  times?: number;
  /** `error`: HTTP status (default 500), Twirp code and message. */
  status?: number;
  code?: string;
  msg?: string;
  /** `rateLimit`: Retry-After in seconds (default 1). */
  retryAfterSeconds?: number;
  /** Carry the call out first, then fail the answer: the client can not tell it happened. */
  afterActing?: boolean;
}

export interface LivekitFakeOptions {
  apiKey?: string;
  apiSecret?: string;
  /** Field names of answers: proto names (snake_case, the default) or JSON names (camelCase). */
  jsonNames?: 'snake' | 'camel';
  /** Send enums as numbers instead of names. */
  enumsAsNumbers?: boolean;
  /** Rooms that exist; every room when absent. */
  rooms?: string[];
}

/** How a webhook is sent: signed as LiveKit does, or spoiled the ways an attacker would. */
export interface LivekitWebhookOptions {
  /** `valid` (default): the API secret; `forged`: another secret; `none`: no Authorization header. */
  signature?: 'valid' | 'forged' | 'none';
  /** Change the body after signing it. */
  tamper?: boolean;
  /** The exact bytes to sign and send instead of `JSON.stringify(payload)`. */
  raw?: string | Buffer;
}

export interface LivekitWebhookResult {
  status: number;
  body: any;
}

/** A start the fake has carried out but not answered yet (see `holdNextStart`). */
export interface StartGate {
  /** Resolves with the egress id the start created. */
  created: Promise<string>;
  release(): void;
}

const NS_PER_MS = 1_000_000n;
const now = () => BigInt(Date.now()) * NS_PER_MS;
const STORAGE = 'https://storage.livekit.test';

export class LivekitFake {
  readonly apiKey: string;
  readonly apiSecret: string;
  readonly requests: RecordedRequest[] = [];
  readonly egresses = new Map<string, FakeEgress>();
  jsonNames: 'snake' | 'camel';
  enumsAsNumbers: boolean;
  rooms: Set<string> | null;
  private faults: Fault[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly roomIds = new Map<string, string>();
  private server: Server | null = null;
  private readonly startGates: { resolveCreated: (id: string) => void; released: Promise<void> }[] = [];
  url = '';

  constructor(options: LivekitFakeOptions = {}) {
    this.apiKey = options.apiKey ?? 'APIfakeKey123';
    this.apiSecret = options.apiSecret ?? 'fake-livekit-secret-0123456789abcdef';
    this.jsonNames = options.jsonNames ?? 'snake';
    this.enumsAsNumbers = options.enumsAsNumbers ?? false;
    this.rooms = options.rooms ? new Set(options.rooms) : null;
  }

  static async start(options: LivekitFakeOptions = {}): Promise<LivekitFake> {
    const fake = new LivekitFake(options);
    await fake.listen();
    return fake;
  }

  private async listen(): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) this.twirpError(res, 'internal', String(error));
      });
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // --- switches -------------------------------------------------------------------------------

  fault(fault: Fault): void {
    this.faults.push({ times: 1, ...fault });
  }
  failNext(times = 1, options: Omit<Fault, 'kind' | 'times'> = {}): void {
    this.fault({ kind: 'error', times, ...options });
  }
  rateLimitNext(times = 1, options: Omit<Fault, 'kind' | 'times'> = {}): void {
    this.fault({ kind: 'rateLimit', times, ...options });
  }
  hangNext(times = 1, options: Omit<Fault, 'kind' | 'times'> = {}): void {
    this.fault({ kind: 'hang', times, ...options });
  }
  malformedNext(times = 1, options: Omit<Fault, 'kind' | 'times'> = {}): void {
    this.fault({ kind: 'malformed', times, ...options });
  }
  clearFaults(): void {
    this.faults = [];
  }

  /** Moves an egress like the egress worker would; `error` is LiveKit's failure text. */
  setStatus(egressId: string, status: FakeEgressStatus, options: { error?: string } = {}): void {
    const egress = this.egresses.get(egressId);
    if (!egress) throw new Error(`fake LiveKit has no egress ${egressId}`);
    egress.status = status;
    egress.updatedAt = now();
    if (status === 'EGRESS_ACTIVE' && !egress.startedAt) egress.startedAt = now();
    if (EGRESS_STATUSES.indexOf(status) >= 3 && !egress.endedAt) egress.endedAt = now();
    if (options.error !== undefined) egress.error = options.error;
  }

  /** Creates an egress directly, as if someone else started it. */
  addEgress(roomName: string, request: any, status: FakeEgressStatus = 'EGRESS_ACTIVE'): FakeEgress {
    const egress = this.createEgress({ roomName, ...request });
    this.setStatus(egress.egressId, status);
    return egress;
  }

  calls(rpc: string): RecordedRequest[] {
    return this.requests.filter((request) => request.rpc === rpc);
  }

  egressesInRoom(roomName: string): FakeEgress[] {
    return [...this.egresses.values()].filter((egress) => egress.roomName === roomName);
  }

  /** LiveKit's room sid for a room name, stable for the fake's life. */
  roomId(roomName: string): string {
    let id = this.roomIds.get(roomName);
    if (!id) {
      id = `RM_${randomBytes(6).toString('hex')}`;
      this.roomIds.set(roomName, id);
    }
    return id;
  }

  // --- webhooks -------------------------------------------------------------------------------

  /**
   * POSTs a webhook as LiveKit does: `Content-Type: application/webhook+json`, `Authorization` =
   * the JWT itself (HS256 with the API secret, `iss` = API key, `sha256` = base64 SHA-256 of the body).
   */
  async sendWebhook(url: string, payload: unknown, options: LivekitWebhookOptions = {}): Promise<LivekitWebhookResult> {
    const raw = Buffer.from(options.raw ?? JSON.stringify(payload));
    const headers: Record<string, string> = { 'content-type': 'application/webhook+json' };
    const signature = options.signature ?? 'valid';
    if (signature !== 'none') {
      const secret = signature === 'valid' ? this.apiSecret : 'attacker-secret-0123456789abcdef';
      headers.authorization = await new SignJWT({ sha256: createHash('sha256').update(raw).digest('base64') })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(this.apiKey)
        .setNotBefore(Math.floor(Date.now() / 1000) - 5)
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(secret));
    }
    let body = raw;
    if (options.tamper) {
      body = Buffer.from(raw);
      const index = Math.max(0, body.lastIndexOf('"') - 1);
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
    return { status: response.status, body: parsed };
  }

  /** An `egress_*` event carrying the egress as the fake holds it now (camelCase, protojson). */
  egressWebhook(event: 'egress_started' | 'egress_updated' | 'egress_ended', egressId: string) {
    const egress = this.egresses.get(egressId);
    if (!egress) throw new Error(`fake LiveKit has no egress ${egressId}`);
    return {
      event,
      id: `EV_${randomUUID()}`,
      createdAt: String(Math.floor(Date.now() / 1000)),
      egressInfo: this.render(egress, 'camel'),
    };
  }

  /** `room_started` / `room_finished`. */
  roomWebhook(event: 'room_started' | 'room_finished', roomName: string) {
    return {
      event,
      id: `EV_${randomUUID()}`,
      createdAt: String(Math.floor(Date.now() / 1000)),
      room: this.roomInfo(roomName),
    };
  }

  /** `participant_joined` / `participant_left`; `kind` is ParticipantInfo.kind (`EGRESS` for LiveKit's recorder). */
  participantWebhook(
    event: 'participant_joined' | 'participant_left',
    roomName: string,
    identity: string,
    kind: 'STANDARD' | 'INGRESS' | 'EGRESS' | 'SIP' | 'AGENT' = 'STANDARD',
  ) {
    return {
      event,
      id: `EV_${randomUUID()}`,
      createdAt: String(Math.floor(Date.now() / 1000)),
      room: this.roomInfo(roomName),
      participant: {
        sid: `PA_${randomBytes(6).toString('hex')}`,
        identity,
        state: event === 'participant_joined' ? 'ACTIVE' : 'DISCONNECTED',
        joinedAt: String(Math.floor(Date.now() / 1000)),
        // protojson omits the zero value (STANDARD).
        ...(kind === 'STANDARD' ? {} : { kind }),
      },
    };
  }

  /**
   * The next StartRoomCompositeEgress is carried out at once but answered only after `release()`:
   * lets a test deliver webhooks before the start call has its answer.
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

  private roomInfo(roomName: string) {
    return { sid: this.roomId(roomName), name: roomName, creationTime: String(Math.floor(Date.now() / 1000)) };
  }

  // --- HTTP -----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    const match = /^\/twirp\/livekit\.Egress\/([A-Za-z]+)$/.exec(path);
    let body: any = null;
    try {
      body = raw.length ? JSON.parse(raw) : null;
    } catch {
      body = raw;
    }
    const recorded: RecordedRequest = {
      method: req.method ?? '',
      path,
      rpc: match?.[1] ?? null,
      headers: req.headers,
      body,
      claims: null,
      at: Date.now(),
    };
    this.requests.push(recorded);

    // Authentication runs before routing, as LiveKit's middleware does.
    const auth = await this.authenticate(req.headers.authorization);
    if ('code' in auth) {
      this.twirpError(res, auth.code, auth.msg);
      return;
    }
    recorded.claims = auth.claims;

    if (req.method !== 'POST' || !match) {
      return this.twirpError(res, 'bad_route', `no handler for path "${path}"`);
    }
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
      return this.twirpError(res, 'bad_route', 'unexpected Content-Type');
    }
    if (typeof body !== 'object' || body === null) {
      return this.twirpError(res, 'malformed', 'the json request could not be decoded');
    }
    if (!(auth.claims.video as any)?.roomRecord) {
      return this.twirpError(res, 'permission_denied', 'permissions denied');
    }

    const rpc = match[1] ?? '';
    const fault = this.takeFault(rpc);
    if (fault && !fault.afterActing) {
      this.applyFault(res, fault);
      return;
    }
    const answer = this.dispatch(rpc, camelize(body));
    const gate = rpc === 'StartRoomCompositeEgress' && 'body' in answer ? this.startGates.shift() : undefined;
    if (gate && 'body' in answer) {
      const info = camelize(answer.body) as { egressId: string };
      gate.resolveCreated(info.egressId);
      await gate.released;
    }
    if (fault) this.applyFault(res, fault);
    else if ('code' in answer) this.twirpError(res, answer.code, answer.msg);
    else this.json(res, 200, answer.body);
  }

  private async authenticate(
    header: string | undefined,
  ): Promise<{ claims: JWTPayload & { video?: unknown } } | { code: string; msg: string }> {
    // No token at all: no grants, which the Egress service refuses.
    if (!header) return { claims: {} };
    if (!header.startsWith('Bearer ')) return { code: 'unauthenticated', msg: 'invalid authorization header' };
    const token = header.slice('Bearer '.length);
    const [, payload] = token.split('.');
    let issuer: unknown;
    try {
      issuer = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()).iss;
    } catch {
      return { code: 'unauthenticated', msg: 'invalid authorization token' };
    }
    // LiveKit quotes the key and the token in these messages: clients must not show them.
    if (issuer !== this.apiKey) return { code: 'unauthenticated', msg: `invalid API key: ${String(issuer)}` };
    try {
      const { payload: claims } = await jwtVerify(token, new TextEncoder().encode(this.apiSecret), {
        algorithms: ['HS256'],
        issuer: this.apiKey,
      });
      return { claims };
    } catch (error) {
      return { code: 'unauthenticated', msg: `invalid token: ${token}, error: ${(error as Error).message}` };
    }
  }

  private takeFault(rpc: string): Fault | undefined {
    const index = this.faults.findIndex((fault) => !fault.rpc || fault.rpc === rpc);
    if (index < 0) return undefined;
    const fault = this.faults[index]!;
    fault.times = (fault.times ?? 1) - 1;
    if (fault.times <= 0) this.faults.splice(index, 1);
    return fault;
  }

  private applyFault(res: ServerResponse, fault: Fault): void {
    if (fault.kind === 'hang') return; // never answers; close() destroys the socket
    if (fault.kind === 'malformed') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"egress_id": "EG_trunc');
    } else if (fault.kind === 'rateLimit') {
      res.setHeader('retry-after', String(fault.retryAfterSeconds ?? 1));
      this.twirpError(res, 'resource_exhausted', fault.msg ?? 'rate limit exceeded', 429);
    } else {
      this.twirpError(res, fault.code ?? 'internal', fault.msg ?? 'internal error', fault.status ?? 500);
    }
  }

  private dispatch(rpc: string, body: any): { body: unknown } | { code: string; msg: string } {
    switch (rpc) {
      case 'StartRoomCompositeEgress':
        return this.startRoomComposite(body);
      case 'StopEgress':
        return this.stopEgress(body);
      case 'ListEgress':
        return this.listEgress(body);
      default:
        return { code: 'bad_route', msg: `no handler for path "/twirp/livekit.Egress/${rpc}"` };
    }
  }

  private startRoomComposite(body: any): { body: unknown } | { code: string; msg: string } {
    if (!body.roomName) return { code: 'invalid_argument', msg: 'room name required' };
    if (this.rooms && !this.rooms.has(body.roomName)) {
      return { code: 'not_found', msg: 'requested room does not exist' };
    }
    const outputs =
      (body.fileOutputs?.length ?? 0) +
      (body.streamOutputs?.length ?? 0) +
      (body.segmentOutputs?.length ?? 0) +
      (body.file ? 1 : 0) +
      (body.stream ? 1 : 0) +
      (body.segments ? 1 : 0);
    if (outputs === 0) return { code: 'invalid_argument', msg: 'no outputs provided' };
    for (const output of body.streamOutputs ?? []) {
      for (const url of output.urls ?? []) {
        if (!/^rtmps?:\/\//.test(url)) return { code: 'invalid_argument', msg: `invalid stream url ${url}` };
      }
    }
    return { body: this.render(this.createEgress(body)) };
  }

  private createEgress(request: any): FakeEgress {
    const egress: FakeEgress = {
      egressId: `EG_${randomBytes(6).toString('hex')}`,
      roomId: this.roomId(request.roomName),
      roomName: request.roomName,
      status: 'EGRESS_STARTING',
      request,
      startedAt: 0n,
      endedAt: 0n,
      updatedAt: now(),
      error: '',
    };
    this.egresses.set(egress.egressId, egress);
    return egress;
  }

  private stopEgress(body: any): { body: unknown } | { code: string; msg: string } {
    const egress = this.egresses.get(body.egressId ?? '');
    if (!egress) return { code: 'not_found', msg: 'egress does not exist' };
    if (egress.status !== 'EGRESS_STARTING' && egress.status !== 'EGRESS_ACTIVE') {
      return { code: 'failed_precondition', msg: `egress with status ${egress.status} cannot be stopped` };
    }
    this.setStatus(egress.egressId, 'EGRESS_ENDING');
    return { body: this.render(egress) };
  }

  private listEgress(body: any): { body: unknown } {
    const items = [...this.egresses.values()].filter(
      (egress) =>
        (!body.roomName || egress.roomName === body.roomName) &&
        (!body.egressId || egress.egressId === body.egressId) &&
        (!body.active || EGRESS_STATUSES.indexOf(egress.status) < 3),
    );
    return { body: items.length ? { items: items.map((egress) => this.render(egress)) } : {} };
  }

  // --- protojson rendering --------------------------------------------------------------------

  /** An EgressInfo in camelCase with zero values left out; `json` applies the naming. */
  private render(egress: FakeEgress, names: 'snake' | 'camel' = this.jsonNames): unknown {
    const index = EGRESS_STATUSES.indexOf(egress.status);
    const ended = index >= 3;
    const produced = egress.status === 'EGRESS_COMPLETE' || egress.status === 'EGRESS_LIMIT_REACHED';
    const ns = (value: bigint) => (value ? value.toString() : undefined);
    const request = egress.request;
    const streamUrls: string[] = (request.streamOutputs ?? []).flatMap((output: any) => output.urls ?? []);
    const info: any = {
      egressId: egress.egressId,
      roomId: egress.roomId,
      roomName: egress.roomName,
      status: index === 0 ? undefined : this.enumsAsNumbers ? index : egress.status,
      startedAt: ns(egress.startedAt),
      endedAt: ns(egress.endedAt),
      updatedAt: ns(egress.updatedAt),
      error: egress.error || undefined,
      // LiveKit echoes the request, with stream keys redacted.
      roomComposite: {
        ...request,
        streamOutputs: request.streamOutputs?.map((output: any) => ({
          ...output,
          urls: (output.urls ?? []).map(redactKey),
        })),
      },
    };
    if (egress.startedAt && streamUrls.length) {
      info.streamResults = streamUrls.map((url) => ({
        url: redactKey(url),
        startedAt: ns(egress.startedAt),
        ...(ended ? { endedAt: ns(egress.endedAt), status: this.enumsAsNumbers ? 1 : 'FINISHED' } : {}),
      }));
    }
    if (egress.startedAt && request.segmentOutputs?.length) {
      info.segmentResults = request.segmentOutputs.map((output: any) => ({
        playlistName: `${output.filenamePrefix ?? ''}${output.playlistName ?? 'playlist.m3u8'}`,
        playlistLocation: `${STORAGE}/${output.filenamePrefix ?? ''}${output.playlistName ?? 'playlist.m3u8'}`,
        startedAt: ns(egress.startedAt),
        segmentCount: '3',
      }));
    }
    if (produced && request.fileOutputs?.length) {
      info.fileResults = request.fileOutputs.map((output: any) => ({
        filename: output.filepath,
        startedAt: ns(egress.startedAt),
        endedAt: ns(egress.endedAt),
        duration: '12500000000',
        size: '1048576',
        location: `${STORAGE}/${output.filepath}`,
      }));
    }
    return names === 'snake' ? snakeize(stripUndefined(info)) : stripUndefined(info);
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private twirpError(res: ServerResponse, code: string, msg: string, status = TWIRP_STATUS[code] ?? 500): void {
    this.json(res, status, { code, msg });
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** protojson reads both proto (snake_case) and JSON (camelCase) names. */
function camelize(value: any): any {
  if (Array.isArray(value)) return value.map(camelize);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()),
        camelize(item),
      ]),
    );
  }
  return value;
}

function snakeize(value: any): any {
  if (Array.isArray(value)) return value.map(snakeize);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), snakeize(item)]),
    );
  }
  return value;
}

function stripUndefined(value: any): any {
  if (Array.isArray(value)) return value.map(stripUndefined);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, item]) => item !== undefined)
        .map(([key, item]) => [key, stripUndefined(item)]),
    );
  }
  return value;
}

function redactKey(url: string): string {
  const cut = url.lastIndexOf('/');
  return cut > url.indexOf('//') + 1 ? `${url.slice(0, cut + 1)}{sk_redacted}` : url;
}
