/**
 * LiveKit server API access tokens: HS256 with the API secret, `iss` = API key, and the
 * `video.roomRecord` grant the Egress service requires. Short-lived and re-minted before expiry,
 * so a leaked token is worth little.
 */
export class EgressTokenMinter {
  private readonly secret: Uint8Array;
  private cached: { token: string; expiresAt: number } | null = null;

  constructor(
    private readonly apiKey: string,
    apiSecret: string,
    private readonly ttlSeconds = 600,
    /** Re-mint when less than this is left, so a token never expires mid-call or mid-retry. */
    private readonly refreshBeforeSeconds = 60,
  ) {
    this.secret = new TextEncoder().encode(apiSecret);
  }

  async token(now = Date.now()): Promise<string> {
    const nowSeconds = Math.floor(now / 1000);
    if (this.cached && this.cached.expiresAt - this.refreshBeforeSeconds > nowSeconds) return this.cached.token;
    const expiresAt = nowSeconds + this.ttlSeconds;
    // jose is imported when first needed, not at start (cold start, issue 17).
    const token = await new (await import('jose')).SignJWT({ video: { roomRecord: true } })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(this.apiKey)
      // A few seconds back, so a server whose clock runs slightly behind still accepts it.
      .setNotBefore(nowSeconds - 5)
      .setExpirationTime(expiresAt)
      .sign(this.secret);
    this.cached = { token, expiresAt };
    return token;
  }

  /** The most recent token, to scrub from messages. */
  get current(): string | null {
    return this.cached?.token ?? null;
  }
}
