import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    expect(config.port).toBe(4000);
    expect(config.databaseUrl).toBe('./data/livestreams.sqlite');
    expect(config.defaultProvider).toBe('SANDBOX');
    expect(config.sandboxStepMs).toBe(1500);
    expect(config.polling.intervalMs).toBe(5000);
    expect(config.maxSubscriptionsPerConnection).toBe(100);
    expect(config.hms.apiUrl).toBe('https://api.100ms.live/v2');
    expect(config.hms.webhookHeader).toBe('x-hms-webhook-secret');
    expect(config.cloudflare.apiUrl).toBe('https://api.cloudflare.com/client/v4');
    expect(config.dyte.apiUrl).toBe('https://api.dyte.io/v2');
    expect(config.tenbyte.apiUrl).toBe('https://api.tenbyte.io/v1/webinar');
    expect(config.production).toBe(false);
  });

  it('names every malformed variable', () => {
    expect(problems({ PORT: '70000', DEFAULT_PROVIDER: 'ACME', SANDBOX_STEP_MS: 'fast' }).join('\n')).toMatch(
      /PORT[\s\S]*DEFAULT_PROVIDER[\s\S]*SANDBOX_STEP_MS/,
    );
    expect(problems({ HMS_API_URL: 'ftp://example.com' })[0]).toContain('HMS_API_URL');
    expect(problems({ CLOUDFLARE_WEBHOOK_PUBLIC_KEY: 'not a key' })[0]).toContain('CLOUDFLARE_WEBHOOK_PUBLIC_KEY');
    expect(problems({ TENBYTE_STOP_PATH: 'end' })[0]).toContain('TENBYTE_STOP_PATH');
  });

  it('has the documented retention defaults and refuses a malformed one, naming it', () => {
    expect(loadConfig({}).retention).toEqual({ days: 90, batchSize: 500, intervalMs: 3_600_000 });
    expect(loadConfig({ RETENTION_DAYS: '30', RETENTION_BATCH_SIZE: '50' }).retention).toMatchObject({
      days: 30,
      batchSize: 50,
    });
    expect(problems({ RETENTION_DAYS: '0' })[0]).toContain('RETENTION_DAYS');
    expect(problems({ RETENTION_DAYS: '90d' })[0]).toContain('RETENTION_DAYS');
    expect(problems({ RETENTION_BATCH_SIZE: '-1' })[0]).toContain('RETENTION_BATCH_SIZE');
    expect(problems({ RETENTION_INTERVAL_MS: '10' })[0]).toContain('RETENTION_INTERVAL_MS');
  });

  it('has the documented transport bounds, and reads CORS_ORIGINS as a list', () => {
    const { transport } = loadConfig({});
    expect(transport).toEqual({
      websocket: { maxBufferedBytes: 4 * 1024 * 1024, maxMessagesPerSecond: 300, maxPendingInit: 1000 },
      maxConnections: 25_000,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5000,
      maxSseSubscriptionsPerClient: 100,
      corsOrigins: [],
    });
    expect(loadConfig({ CORS_ORIGINS: 'https://a.example.com/, https://b.example.com' }).transport.corsOrigins).toEqual(
      ['https://a.example.com', 'https://b.example.com'],
    );
    expect(problems({ HTTP_HEADERS_TIMEOUT_MS: '60000', HTTP_REQUEST_TIMEOUT_MS: '30000' })[0]).toContain(
      'HTTP_HEADERS_TIMEOUT_MS',
    );
    expect(problems({ WS_MAX_BUFFERED_BYTES: '10' })[0]).toContain('WS_MAX_BUFFERED_BYTES');
  });

  it('has the documented callback bounds, reads CALLBACK_URL_ALLOW as hosts and URL prefixes, and names a bad entry', () => {
    expect(loadConfig({}).callbacks).toEqual({
      urls: { allow: [], production: false },
      timeoutMs: 5000,
      maxRetries: 2,
      maxSubscriptions: 100_000,
      leaseMs: 30_000,
    });
    expect(
      loadConfig({ CALLBACK_URL_ALLOW: 'Router.internal, router:4000, https://gw.example/callback/' }).callbacks.urls
        .allow,
    ).toEqual([
      { kind: 'host', hostname: 'router.internal', port: null },
      { kind: 'host', hostname: 'router', port: '4000' },
      { kind: 'prefix', protocol: 'https:', host: 'gw.example', path: '/callback' },
    ]);
    for (const bad of ['ftp://router/callback', 'http://user:pw@router/', 'router/callback']) {
      expect(problems({ CALLBACK_URL_ALLOW: bad })[0]).toContain('CALLBACK_URL_ALLOW');
    }
  });

  it('refuses half a set of vendor credentials, naming what is missing', () => {
    const [problem] = problems({ HMS_ACCESS_KEY: 'key' });
    expect(problem).toContain('HMS_APP_SECRET');
    expect(problem).not.toContain('key,');
    expect(problems({ CLOUDFLARE_API_TOKEN: 't', CLOUDFLARE_ACCOUNT_ID: 'a' })[0]).toContain('CLOUDFLARE_APP_ID');
  });

  it('treats empty values as unset and accepts a LiveKit ws(s) URL', () => {
    expect(loadConfig({ PORT: '', HMS_ACCESS_KEY: '' }).port).toBe(4000);
    const config = loadConfig({ LIVEKIT_URL: 'wss://lk.example.com', LIVEKIT_API_KEY: 'k', LIVEKIT_API_SECRET: 's' });
    expect(config.livekit.url).toBe('https://lk.example.com');
  });
});
