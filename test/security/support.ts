import { SignJWT } from 'jose';
import WebSocket from 'ws';

export const JWT_SECRET = 'test-secret-that-is-at-least-32-characters-long';
export const ISSUER = 'https://auth.example.test/';
export const AUDIENCE = 'livestream-subgraph';

/** The environment of a service that verifies HS256 tokens from ISSUER for AUDIENCE. */
export const HS256_ENV: Record<string, string> = {
  AUTH_JWT_SECRET: JWT_SECRET,
  AUTH_ISSUER: ISSUER,
  AUTH_AUDIENCE: AUDIENCE,
};

export interface TokenOptions {
  roles?: unknown;
  issuer?: string;
  audience?: string;
  expiresIn?: string | number;
  secret?: string;
  subject?: string;
}

/** An HS256 JWT as the identity provider would issue it (override a part to make it wrong). */
export function hsToken(options: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT(options.roles === undefined ? {} : { roles: options.roles })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(options.subject ?? 'user-1')
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '5m');
  return jwt.sign(new TextEncoder().encode(options.secret ?? JWT_SECRET));
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export interface SocketOutcome {
  /** `ack` when the server acknowledged connection_init, else how it closed. */
  outcome: 'ack' | 'closed' | 'error';
  code?: number;
  reason?: string;
  socket: WebSocket;
}

/**
 * A raw graphql-transport-ws connection: opens with `headers`, sends connection_init with
 * `params` (unless `init` is false) and reports the server's answer.
 */
export function rawSocket(
  url: string,
  options: { headers?: Record<string, string>; params?: Record<string, unknown>; init?: boolean } = {},
): Promise<SocketOutcome> {
  const socket = new WebSocket(url, 'graphql-transport-ws', { headers: options.headers });
  return new Promise((resolve) => {
    socket.on('open', () => {
      if (options.init === false) return;
      socket.send(JSON.stringify({ type: 'connection_init', payload: options.params ?? {} }));
    });
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string };
      if (message.type === 'connection_ack') resolve({ outcome: 'ack', socket });
    });
    socket.on('close', (code, reason) => resolve({ outcome: 'closed', code, reason: String(reason), socket }));
    socket.on('error', (error) => resolve({ outcome: 'error', reason: error.message, socket }));
  });
}

/** Resolves with the close code once the socket closes. */
export function closed(socket: WebSocket): Promise<{ code: number; reason: string }> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve({ code: -1, reason: 'already closed' });
  return new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
}

/** Sends one operation on an acknowledged raw socket and collects messages for it until error/complete. */
export function operate(
  socket: WebSocket,
  id: string,
  query: string,
  variables?: Record<string, unknown>,
): Promise<{ type: string; payload?: any }[]> {
  const messages: { type: string; payload?: any }[] = [];
  return new Promise((resolve) => {
    const onMessage = (data: WebSocket.RawData) => {
      const message = JSON.parse(String(data)) as { id?: string; type: string; payload?: any };
      if (message.id !== id) return;
      messages.push(message);
      if (message.type === 'error' || message.type === 'complete') {
        socket.off('message', onMessage);
        resolve(messages);
      }
    };
    socket.on('message', onMessage);
    socket.once('close', () => resolve(messages));
    socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } }));
  });
}

/** A query answered with about 130 KB: the SDL, fifteen times (the alias limit). */
export const LARGE_QUERY = `{ ${Array.from({ length: 15 }, (_, i) => `s${i}: _service { sdl }`).join(' ')} }`;
