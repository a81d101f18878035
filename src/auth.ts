import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { JWTPayload } from 'jose';
import type { Config } from './config.js';

export const ROLES = ['host', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling, as far as the schema's `authScopes` are concerned. */
export interface Caller {
  /** False in open mode (no auth configured), where every caller holds every role. */
  authenticated: boolean;
  subject: string | null;
  roles: ReadonlySet<Role>;
  /** When the token stops being valid (epoch ms), if it says. */
  expiresAt: number | null;
}

/** Open mode: no auth configured (refused in production by config). */
export const OPEN_CALLER: Caller = { authenticated: false, subject: null, roles: new Set(ROLES), expiresAt: null };

/** A missing, malformed, expired or untrusted token. The message is safe to show the caller. */
export class AuthenticationError extends Error {
  readonly code = 'UNAUTHENTICATED' as const;
  constructor(message: string) {
    super(message);
    this.name = 'AuthenticationError';
  }
}

export interface Authenticator {
  /** False when neither AUTH_JWT_SECRET nor AUTH_JWKS_URL is set. */
  readonly enabled: boolean;
  /** The caller a credential (`Bearer <jwt>` or the bare JWT) names; throws AuthenticationError. */
  authenticate(credential: unknown): Promise<Caller>;
}

// JWKS keys are asymmetric: never let a token pick a symmetric algorithm against them.
const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

export function createAuthenticator(auth: Config['auth']): Authenticator {
  const options = { issuer: auth.issuer, audience: auth.audience };
  // jose is imported only when tokens are checked: open mode (the default) never loads it, a part
  // of the cold start (bench/README.md, issue 17).
  let loading: Promise<typeof import('jose')> | undefined;
  const jose = () => {
    loading ??= import('jose');
    return loading;
  };
  let verify: ((token: string) => Promise<JWTPayload>) | undefined;
  if (auth.jwtSecret) {
    const secret = new TextEncoder().encode(auth.jwtSecret);
    verify = async (token) =>
      (await (await jose()).jwtVerify(token, secret, { ...options, algorithms: ['HS256'] })).payload;
  } else if (auth.jwksUrl) {
    const url = new URL(auth.jwksUrl);
    // jose caches the key set and refetches it (at most every 30 s) when a token names an unknown kid.
    let keys: ReturnType<typeof import('jose').createRemoteJWKSet> | undefined;
    verify = async (token) => {
      const { createRemoteJWKSet, jwtVerify } = await jose();
      keys ??= createRemoteJWKSet(url, { timeoutDuration: 5000, cooldownDuration: 30_000 });
      return (await jwtVerify(token, keys, { ...options, algorithms: ASYMMETRIC_ALGORITHMS })).payload;
    };
  }
  if (!verify) return { enabled: false, authenticate: async () => OPEN_CALLER };
  const verifyToken = verify;

  return {
    enabled: true,
    async authenticate(credential) {
      const token = bearerToken(credential);
      if (!token) throw new AuthenticationError('Authentication required: send a JWT as "Authorization: Bearer <jwt>"');
      let payload: JWTPayload;
      try {
        payload = await verifyToken(token);
      } catch (error) {
        const { errors: joseErrors } = await jose();
        // The key set could not be fetched or read: our outage (500, logged), not the caller's fault.
        const outage = error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid;
        if (outage || !(error instanceof joseErrors.JOSEError)) throw error;
        if (error instanceof joseErrors.JWTExpired) throw new AuthenticationError('Token expired');
        if (error instanceof joseErrors.JWTClaimValidationFailed) {
          throw new AuthenticationError(`Token rejected: its ${error.claim} claim is not accepted`);
        }
        throw new AuthenticationError('Invalid token');
      }
      const claimed: unknown[] = Array.isArray(payload.roles) ? payload.roles : [];
      return {
        authenticated: true,
        subject: payload.sub ?? null,
        roles: new Set(ROLES.filter((role) => claimed.includes(role))),
        expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null,
      };
    },
  };
}

/** `Bearer <jwt>` or the bare JWT; anything else is no credential. */
export function bearerToken(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const token = value.trim().replace(/^Bearer\s+/i, '');
  return token || undefined;
}

/**
 * A WebSocket's credential: from `connectionParams` (`authorization`, `Authorization`, or `token`,
 * which is how Apollo Router forwards it; also inside a `headers` object), else the upgrade
 * request's `Authorization` header.
 */
export function connectionCredential(
  params: Record<string, unknown> | undefined,
  headers: IncomingHttpHeaders,
): string | undefined {
  const nested =
    params?.headers && typeof params.headers === 'object' ? (params.headers as Record<string, unknown>) : {};
  for (const source of [params ?? {}, nested]) {
    for (const name of ['authorization', 'Authorization', 'token']) {
      const value = source[name];
      if (typeof value === 'string' && value.trim()) return value;
    }
  }
  return headers.authorization;
}

export const SUBGRAPH_SECRET_HEADER = 'x-subgraph-secret';

/** The router secret a WebSocket presents: upgrade header, else `connectionParams`. */
export function connectionSecret(
  params: Record<string, unknown> | undefined,
  headers: IncomingHttpHeaders,
): string | undefined {
  const header = headers[SUBGRAPH_SECRET_HEADER];
  if (typeof header === 'string') return header;
  const nested =
    params?.headers && typeof params.headers === 'object' ? (params.headers as Record<string, unknown>) : {};
  for (const source of [params ?? {}, nested]) {
    const value = source[SUBGRAPH_SECRET_HEADER] ?? source['X-Subgraph-Secret'];
    if (typeof value === 'string') return value;
  }
  return undefined;
}

/** Constant-time comparison (hashing first makes the lengths equal too). */
export function secretMatches(presented: unknown, expected: string): boolean {
  if (typeof presented !== 'string') return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
