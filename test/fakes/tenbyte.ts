import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake Tenbyte Webinar API (seed 003) as a real HTTP server on 127.0.0.1.
 *
 * Documented: `Authorization: Bearer <token>`; `POST /rooms/{room_id}/sessions` `{title, preset_id}`
 * creates a session; `POST /sessions/{id}/go_live` (host only) answers
 * `{success, data: {session, livekit_token, rtmp, rtmp_setup, whip_url}, timestamp}` with the
 * session `scheduled`. Assumed like our provider assumes (src/providers/tenbyte/contract.ts):
 * `GET /sessions/{id}`, `POST /sessions/{id}/end` and the session creation answer
 * `{success, data: {session}, timestamp}`; ending an ended session is a 409;
 * errors use `{success: false, error: {code, message}}` or, with `errorStyle = 'errors'`,
 * `{success: false, errors: [{code, message}]}`.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface FakeSession {
  id: string;
  room_id: string;
  title: string;
  preset_id: string | null;
  status: string;
  mode: string;
  hls_url: string;
  started_at: string | null;
  ended_at: string | null;
  created_at: string;
  updated_at: string;
}

type FaultKind = 'error500' | 'rateLimited' | 'hang' | 'malformed' | 'successFalse' | 'noSession';

interface Fault {
  kind: FaultKind;
  remaining: number;
  /** Only requests whose `METHOD /path` matches are hit; all requests when absent. */
  match?: RegExp;
  /** Let the vendor act (change its state) before answering with the fault. */
  afterApply: boolean;
  retryAfterSeconds?: number;
  message?: string;
}

export interface FaultOptions {
  match?: RegExp;
  afterApply?: boolean;
}

/** `METHOD /path` matchers for the documented operations. */
export const TENBYTE_ROUTES = {
  goLive: /^POST \/sessions\/[^/]+\/go_live$/,
  read: /^GET \/sessions\/[^/]+$/,
  end: /^POST \/sessions\/[^/]+\/end$/,
};

export const FAKE_TENBYTE_HOST_TOKEN = 'tb_host_token_5f0c9e2a';
export const FAKE_TENBYTE_VIEWER_TOKEN = 'tb_viewer_token_7d31b4e8';

export interface TenbyteFake {
  url: string;
  /** The base URL our provider is configured with (TENBYTE_API_URL). */
  apiUrl: string;
  requests: RecordedRequest[];
  sessions: Map<string, FakeSession>;
  /** Which error envelope the fake answers with (Tenbyte's is unconfirmed). */
  errorStyle: 'error' | 'errors';
  /** The status a session takes on go_live: `scheduled` as seed 003 shows; tests may pick `live`. */
  goLiveStatus: string;
  createSession(roomId?: string, title?: string): FakeSession;
  setStatus(sessionId: string, status: string): void;
  goLiveCalls(sessionId?: string): number;
  failNext(times: number, options?: FaultOptions): void;
  rateLimitNext(times: number, retryAfterSeconds: number, options?: FaultOptions): void;
  hangNext(times: number, options?: FaultOptions): void;
  malformedNext(times: number, options?: FaultOptions): void;
  /** A 200 whose envelope says `success: false`. */
  refuseNext(times: number, message: string, options?: FaultOptions): void;
  /** A 200 `{success: true, data: {message}}` without the session (tolerated on end). */
  noSessionNext(times: number, options?: FaultOptions): void;
  /** Drops the faults still armed; requests and sessions are kept. */
  clearFaults(): void;
  reset(): void;
  close(): Promise<void>;
}

const BASE_PATH = '/v1/webinar';

export async function startTenbyteFake(tokens: { host?: string; viewer?: string } = {}): Promise<TenbyteFake> {
  const hostToken = tokens.host ?? FAKE_TENBYTE_HOST_TOKEN;
  const viewerToken = tokens.viewer ?? FAKE_TENBYTE_VIEWER_TOKEN;
  const requests: RecordedRequest[] = [];
  const sessions = new Map<string, FakeSession>();
  const faults: Fault[] = [];
  const goLives: string[] = [];
  const hung = new Set<ServerResponse>();

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const fail = (res: ServerResponse, status: number, code: string, message: string) => {
    const body =
      fake.errorStyle === 'errors'
        ? { success: false, errors: [{ code, message }], timestamp: Date.now() }
        : { success: false, error: { code, message }, timestamp: Date.now() };
    send(res, status, body);
  };
  const ok = (res: ServerResponse, data: unknown) => send(res, 200, { success: true, data, timestamp: Date.now() });

  const sessionView = (session: FakeSession) => ({
    ...session,
    room: { id: session.room_id, host_id: 'host-1', title: 'Webinar room', active_session_id: session.id },
    preset: { id: session.preset_id ?? 'preset-default', name: 'Default', type: 'whip', is_default: true },
    description: '',
    duration: 0,
    viewer_count: 0,
    max_viewers: 0,
    recording_enabled: false,
  });

  const takeFault = (route: string, phase: 'before' | 'after'): Fault | undefined => {
    const fault = faults.find(
      (f) => f.remaining > 0 && (!f.match || f.match.test(route)) && f.afterApply === (phase === 'after'),
    );
    if (fault) fault.remaining -= 1;
    return fault;
  };

  const answerFault = (res: ServerResponse, fault: Fault) => {
    switch (fault.kind) {
      case 'error500':
        return fail(res, 500, 'INTERNAL_ERROR', 'Internal server error');
      case 'rateLimited':
        res.setHeader('retry-after', String(fault.retryAfterSeconds ?? 1));
        return fail(res, 429, 'RATE_LIMITED', 'Too many requests');
      case 'hang':
        hung.add(res);
        res.on('close', () => hung.delete(res));
        return;
      case 'malformed':
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('<html>upstream hiccup</html>');
      case 'successFalse':
        return send(res, 200, {
          success: false,
          error: { code: 'REFUSED', message: fault.message ?? 'refused' },
          timestamp: Date.now(),
        });
      case 'noSession':
        return ok(res, { message: 'ok' });
    }
  };

  /** Applies the request to the fake's state; answers what Tenbyte would send. */
  const handle = (
    method: string,
    path: string,
    body: unknown,
    role: 'host' | 'viewer',
  ): { status: number; data?: unknown; code?: string; message?: string } => {
    let match = /^\/rooms\/([^/]+)\/sessions$/.exec(path);
    if (match && method === 'POST') {
      const input = (body ?? {}) as { title?: unknown; preset_id?: unknown };
      if (typeof input.title !== 'string' || input.title.length === 0) {
        return { status: 422, code: 'VALIDATION_ERROR', message: 'title is required' };
      }
      const session = fake.createSession(decodeURIComponent(match[1] ?? ''), input.title);
      session.preset_id = typeof input.preset_id === 'string' ? input.preset_id : null;
      return { status: 200, data: { session: sessionView(session) } };
    }
    match = /^\/sessions\/([^/]+)(\/go_live|\/end)?$/.exec(path);
    if (!match) return { status: 404, code: 'NOT_FOUND', message: 'Route not found' };
    const session = sessions.get(decodeURIComponent(match[1] ?? ''));
    const action = match[2];
    if (action === undefined && method === 'GET') {
      if (!session) return { status: 404, code: 'NOT_FOUND', message: 'Session not found' };
      return { status: 200, data: { session: sessionView(session) } };
    }
    if (method !== 'POST' || action === undefined) {
      return { status: 405, code: 'METHOD_NOT_ALLOWED', message: 'Method not allowed' };
    }
    if (role !== 'host') return { status: 403, code: 'FORBIDDEN', message: 'Only the host can perform this action' };
    if (!session) return { status: 404, code: 'NOT_FOUND', message: 'Session not found' };
    const now = new Date().toISOString();
    if (action === '/go_live') {
      if (session.status === 'ended') return { status: 409, code: 'SESSION_ENDED', message: 'Session has ended' };
      session.status = fake.goLiveStatus;
      session.started_at = now;
      session.updated_at = now;
      const ingressId = `IN_${session.id.slice(0, 8)}`;
      const streamKey = `sk_live_${session.id.slice(0, 8)}`;
      return {
        status: 200,
        data: {
          session: sessionView(session),
          livekit_token: `lk_secret_${randomUUID()}`,
          rtmp: { ingress_id: ingressId, url: 'rtmp://ingest.tenbyte.test/live', stream_key: streamKey },
          rtmp_setup: {
            server: 'rtmp://ingest.tenbyte.test/live',
            stream_key: streamKey,
            instructions: { step1: 'Open OBS', step2: 'Paste server and key', step3: 'Start streaming' },
          },
          whip_url: `https://whip.tenbyte.test/w/${ingressId}`,
        },
      };
    }
    if (session.status === 'ended') return { status: 409, code: 'SESSION_ENDED', message: 'Session has already ended' };
    session.status = 'ended';
    session.ended_at = now;
    session.updated_at = now;
    return { status: 200, data: { session: sessionView(session) } };
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = raw.length > 0 ? JSON.parse(raw) : undefined;
      } catch {
        body = raw;
      }
      const method = req.method ?? 'GET';
      const url = new URL(req.url ?? '/', 'http://fake');
      requests.push({ method, path: url.pathname, headers: req.headers, body });
      if (!url.pathname.startsWith(`${BASE_PATH}/`)) return fail(res, 404, 'NOT_FOUND', 'Route not found');
      const path = url.pathname.slice(BASE_PATH.length);

      const authorization = req.headers.authorization;
      const role =
        authorization === `Bearer ${hostToken}` ? 'host' : authorization === `Bearer ${viewerToken}` ? 'viewer' : null;
      if (!role) return fail(res, 401, 'UNAUTHORIZED', 'Invalid or missing authentication token');

      const route = `${method} ${path}`;
      // Every go_live that reaches the vendor counts, whatever it answers.
      const goLive = /^POST \/sessions\/([^/]+)\/go_live$/.exec(route);
      if (goLive) goLives.push(decodeURIComponent(goLive[1] ?? ''));
      const before = takeFault(route, 'before');
      if (before) return answerFault(res, before);
      const answer = handle(method, path, body, role);
      const after = takeFault(route, 'after');
      if (after) return answerFault(res, after);
      if (answer.status >= 400) return fail(res, answer.status, answer.code ?? 'ERROR', answer.message ?? 'error');
      return ok(res, answer.data);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  const addFault = (kind: FaultKind, times: number, options: FaultOptions = {}, extra: Partial<Fault> = {}) => {
    faults.push({ kind, remaining: times, match: options.match, afterApply: options.afterApply ?? false, ...extra });
  };

  const fake: TenbyteFake = {
    url,
    apiUrl: `${url}${BASE_PATH}`,
    requests,
    sessions,
    errorStyle: 'error',
    goLiveStatus: 'scheduled',
    createSession(roomId = randomUUID(), title = 'Webinar') {
      const now = new Date().toISOString();
      const id = randomUUID();
      const session: FakeSession = {
        id,
        room_id: roomId,
        title,
        preset_id: null,
        status: 'scheduled',
        mode: 'webcam',
        hls_url: `https://cdn.tenbyte.test/hls/${id}/index.m3u8`,
        started_at: null,
        ended_at: null,
        created_at: now,
        updated_at: now,
      };
      sessions.set(id, session);
      return session;
    },
    setStatus(sessionId, status) {
      const session = sessions.get(sessionId);
      if (!session) throw new Error(`fake Tenbyte has no session ${sessionId}`);
      session.status = status;
      session.updated_at = new Date().toISOString();
    },
    goLiveCalls(sessionId) {
      return sessionId === undefined ? goLives.length : goLives.filter((id) => id === sessionId).length;
    },
    failNext: (times, options) => addFault('error500', times, options),
    rateLimitNext: (times, retryAfterSeconds, options) =>
      addFault('rateLimited', times, options, { retryAfterSeconds }),
    hangNext: (times, options) => addFault('hang', times, options),
    malformedNext: (times, options) => addFault('malformed', times, options),
    refuseNext: (times, message, options) => addFault('successFalse', times, options, { message }),
    noSessionNext: (times, options) => addFault('noSession', times, options),
    clearFaults() {
      faults.length = 0;
    },
    reset() {
      faults.length = 0;
      requests.length = 0;
      goLives.length = 0;
      fake.errorStyle = 'error';
      fake.goLiveStatus = 'scheduled';
      for (const res of hung) res.destroy();
      hung.clear();
    },
    async close() {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
