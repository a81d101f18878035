import { randomUUID } from 'node:crypto';

export interface ManagementTokenOptions {
  accessKey: string;
  appSecret: string;
  /** Seconds a token is valid for. The official SDK uses 24 h. */
  ttlSeconds?: number;
  /** A cached token with less than this left is replaced before use. */
  renewBeforeSeconds?: number;
  /** Clock in milliseconds, replaceable so expiry can be tested without waiting. */
  now?: () => number;
}

/** Back-dated like the official SDK, so a vendor clock slightly behind ours still accepts it. */
const CLOCK_SKEW_SECONDS = 10;

/**
 * Mints and caches the 100ms management token (HS256 with the app secret). One token serves every
 * call until it nears expiry or 100ms refuses it; concurrent callers share one minting.
 */
export class ManagementTokens {
  private readonly secret: Uint8Array;
  private readonly ttlSeconds: number;
  private readonly renewBeforeSeconds: number;
  private readonly now: () => number;
  private cached: { token: string; expiresAt: number } | null = null;
  private minting: Promise<string> | null = null;

  constructor(private readonly options: ManagementTokenOptions) {
    this.secret = new TextEncoder().encode(options.appSecret);
    this.ttlSeconds = options.ttlSeconds ?? 24 * 60 * 60;
    this.renewBeforeSeconds = options.renewBeforeSeconds ?? 60 * 60;
    this.now = options.now ?? Date.now;
  }

  /** A token with at least `renewBeforeSeconds` left. */
  async get(): Promise<string> {
    const nowSeconds = Math.floor(this.now() / 1000);
    if (this.cached && this.cached.expiresAt - nowSeconds > this.renewBeforeSeconds) return this.cached.token;
    this.minting ??= this.mint().finally(() => {
      this.minting = null;
    });
    return this.minting;
  }

  /** Drops the cached token (100ms refused it), so the next `get` mints a fresh one. */
  invalidate(): void {
    this.cached = null;
  }

  private async mint(): Promise<string> {
    const issuedAt = Math.floor(this.now() / 1000) - CLOCK_SKEW_SECONDS;
    const expiresAt = issuedAt + this.ttlSeconds;
    // jose is imported when first needed, not at start (cold start, issue 17).
    const token = await new (await import('jose')).SignJWT({
      access_key: this.options.accessKey,
      type: 'management',
      version: 2,
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt(issuedAt)
      .setNotBefore(issuedAt)
      .setExpirationTime(expiresAt)
      .setJti(randomUUID())
      .sign(this.secret);
    this.cached = { token, expiresAt };
    return token;
  }
}
