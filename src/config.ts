import { z } from 'zod';
import { authProblems, pollingProblems } from './config-checks.js';
import { type CallbackAllowEntry, parseCallbackAllowList } from './domain/callback-urls.js';
import { PROVIDERS, type ProviderId } from './domain/status.js';

/**
 * All environment parsing, in one place. A variable that is present but malformed stops the
 * process at boot with a message naming it; a vendor whose credentials are missing is simply not
 * configured.
 */

const emptyToUndefined = (value: unknown) => (value === '' ? undefined : value);

const integer = (min: number, max: number, fallback: number) =>
  z.preprocess(
    (value) => (value === '' || value === undefined ? fallback : value),
    z.coerce
      .number({ error: 'must be a number' })
      .int({ error: 'must be a whole number' })
      .min(min, { error: `must be at least ${min}` })
      .max(max, { error: `must be at most ${max}` }),
  );

const optionalText = z.preprocess(emptyToUndefined, z.string().trim().min(1).optional());

const httpUrl = z
  .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
  .transform((url) => url.replace(/\/+$/, ''));
const urlWithDefault = (fallback: string) => z.preprocess(emptyToUndefined, httpUrl.default(fallback));
const optionalUrl = z.preprocess(emptyToUndefined, httpUrl.optional());
const optionalPem = z.preprocess(
  (value) => (typeof value === 'string' ? value.replace(/\\n/g, '\n').trim() || undefined : value),
  z
    .string()
    .regex(/^-----BEGIN [A-Z ]*PUBLIC KEY-----[\s\S]+-----END [A-Z ]*PUBLIC KEY-----$/, {
      error: 'must be a PEM public key (-----BEGIN PUBLIC KEY-----)',
    })
    .optional(),
);
const pathTemplate = (fallback: string) =>
  z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^\/.*\{id\}/, { error: 'must be a path starting with / and containing {id}' })
      .default(fallback),
  );

const optionalBoolean = z.preprocess(
  (value) => (typeof value === 'string' ? value.trim().toLowerCase() || undefined : value),
  z.enum(['true', 'false', '1', '0'], { error: 'must be true or false' }).optional(),
);

const environmentSchema = z.object({
  PORT: integer(0, 65535, 4000),
  DATABASE_URL: z.preprocess(emptyToUndefined, z.string().min(1).default('./data/livestreams.sqlite')),
  // PostgreSQL (DATABASE_URL=postgres://…) connection pool of each replica.
  DATABASE_POOL_SIZE: integer(1, 1000, 10),
  DATABASE_CONNECT_TIMEOUT_MS: integer(100, 120_000, 5000),
  DATABASE_STATEMENT_TIMEOUT_MS: integer(100, 3_600_000, 15_000),
  REDIS_URL: z.preprocess(
    emptyToUndefined,
    z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }).optional(),
  ),
  // Replicas sharing each vendor's poll budget: with Redis unreachable, each polls with 1/N of it.
  POLL_BUDGET_REPLICAS: integer(1, 1000, 1),
  DEFAULT_PROVIDER: z.preprocess(
    emptyToUndefined,
    z.enum(PROVIDERS, { error: `must be one of ${PROVIDERS.join(', ')}` }).default('SANDBOX'),
  ),
  SANDBOX_STEP_MS: integer(0, 3_600_000, 1500),
  POLL_INTERVAL_MS: integer(50, 3_600_000, 5000),
  // Polling schedule: the interval doubles while a stream does not change, up to the cap (default
  // 12 × POLL_INTERVAL_MS), and starts over after any change.
  POLL_MAX_INTERVAL_MS: z.preprocess(
    emptyToUndefined,
    z.coerce
      .number({ error: 'must be a number' })
      .int({ error: 'must be a whole number' })
      .min(50, { error: 'must be at least 50' })
      .max(86_400_000, { error: 'must be at most 86400000' })
      .optional(),
  ),
  POLL_JITTER_PERCENT: integer(0, 90, 20),
  POLL_LEASE_MS: integer(1000, 3_600_000, 120_000),
  POLL_STUCK_AFTER_MS: integer(100, 604_800_000, 600_000),
  POLL_CONCURRENCY: integer(1, 1000, 16),
  // Requests per POLL_BUDGET_WINDOW_MS each vendor's polling may send, below its rate limit
  // (RealtimeKit: 250 per 10 s for all its APIs, so starts and stops keep some room).
  POLL_BUDGET_WINDOW_MS: integer(100, 3_600_000, 10_000),
  POLL_BUDGET_SANDBOX: integer(1, 1_000_000, 1000),
  POLL_BUDGET_HMS: integer(1, 1_000_000, 100),
  POLL_BUDGET_CLOUDFLARE: integer(1, 1_000_000, 200),
  POLL_BUDGET_DYTE: integer(1, 1_000_000, 200),
  POLL_BUDGET_TENBYTE: integer(1, 1_000_000, 50),
  POLL_BUDGET_LIVEKIT: integer(1, 1_000_000, 100),
  MAX_SUBSCRIPTIONS_PER_CONNECTION: integer(1, 100_000, 100),
  NODE_ENV: optionalText,
  LOG_LEVEL: z.preprocess(
    emptyToUndefined,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
  SHUTDOWN_TIMEOUT_MS: integer(0, 60_000, 5000),
  // Operating it: the /metrics guard, and OpenTelemetry tracing (off unless an endpoint is set).
  METRICS_TOKEN: z.preprocess(
    emptyToUndefined,
    z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
  ),
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalUrl,
  OTEL_SERVICE_NAME: z.preprocess(emptyToUndefined, z.string().trim().min(1).default('livestream-subgraph')),

  // Who may call: JWTs (HS256 secret or a JWKS), the router's shared secret, and abuse limits.
  AUTH_JWT_SECRET: z.preprocess(
    emptyToUndefined,
    z.string().min(32, { error: 'must be at least 32 characters (HS256 needs a 256-bit key)' }).optional(),
  ),
  AUTH_JWKS_URL: optionalUrl,
  AUTH_ISSUER: optionalText,
  AUTH_AUDIENCE: optionalText,
  SUBGRAPH_SECRET: z.preprocess(
    emptyToUndefined,
    z.string().min(16, { error: 'must be at least 16 characters' }).optional(),
  ),
  GRAPHQL_INTROSPECTION: optionalBoolean,
  GRAPHQL_MAX_DEPTH: integer(1, 1000, 8),
  GRAPHQL_MAX_COST: integer(1, 10_000_000, 20_000),
  GRAPHQL_MAX_ALIASES: integer(0, 10_000, 15),
  GRAPHQL_MAX_TOKENS: integer(10, 1_000_000, 2000),
  GRAPHQL_MAX_DIRECTIVES: integer(0, 10_000, 50),
  WS_INIT_TIMEOUT_MS: integer(100, 600_000, 10_000),
  // Caller URLs (meetingUrl, destination) may name private, loopback or link-local hosts.
  ALLOW_PRIVATE_URLS: optionalBoolean,
  // Webhook deliveries waiting for a stream not known (yet): how long, how many. Then retention.
  WEBHOOK_PENDING_MAX_AGE_MS: integer(1000, 604_800_000, 86_400_000),
  WEBHOOK_PENDING_MAX: integer(1, 1_000_000, 1000),
  RETENTION_DAYS: integer(1, 36_500, 90),
  RETENTION_BATCH_SIZE: integer(1, 100_000, 500),
  RETENTION_INTERVAL_MS: integer(1000, 604_800_000, 3_600_000),
  // What one client can make the server hold (issue 10): WebSocket backlog, frame rate and
  // sockets not initialised; HTTP connections, header, request and keep-alive time; SSE streams.
  WS_MAX_BUFFERED_BYTES: integer(16_384, 1_073_741_824, 4 * 1024 * 1024),
  WS_MAX_MESSAGES_PER_SECOND: integer(1, 1_000_000, 300),
  WS_MAX_PENDING_INIT: integer(1, 1_000_000, 1000),
  HTTP_MAX_CONNECTIONS: integer(1, 10_000_000, 25_000),
  HTTP_HEADERS_TIMEOUT_MS: integer(100, 600_000, 10_000),
  HTTP_REQUEST_TIMEOUT_MS: integer(100, 3_600_000, 30_000),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: integer(100, 600_000, 5000),
  SSE_MAX_SUBSCRIPTIONS_PER_CLIENT: integer(1, 1_000_000, 100),
  CORS_ORIGINS: optionalText,
  // Apollo's HTTP callback protocol: where routers may be called back, and how hard we try.
  CALLBACK_URL_ALLOW: z.preprocess(emptyToUndefined, z.string().optional()).transform((text, ctx) => {
    const entries = parseCallbackAllowList(text ?? '');
    if (typeof entries === 'string') ctx.addIssue({ code: 'custom', message: entries });
    return typeof entries === 'string' ? ([] as CallbackAllowEntry[]) : entries;
  }),
  CALLBACK_TIMEOUT_MS: integer(100, 60_000, 5000),
  CALLBACK_MAX_RETRIES: integer(0, 10, 2),
  CALLBACK_MAX_SUBSCRIPTIONS: integer(1, 10_000_000, 100_000),
  CALLBACK_LEASE_MS: integer(1000, 3_600_000, 30_000),

  // Outbound calls to vendors.
  VENDOR_TIMEOUT_MS: integer(100, 120_000, 10_000),
  VENDOR_MAX_RETRIES: integer(0, 10, 3),
  VENDOR_MAX_RETRY_AFTER_MS: integer(0, 600_000, 2000),

  HMS_ACCESS_KEY: optionalText,
  HMS_APP_SECRET: optionalText,
  HMS_API_URL: urlWithDefault('https://api.100ms.live/v2'),
  HMS_WEBHOOK_HEADER: z.preprocess(emptyToUndefined, z.string().trim().toLowerCase().default('x-hms-webhook-secret')),
  HMS_WEBHOOK_SECRET: optionalText,

  CLOUDFLARE_ACCOUNT_ID: optionalText,
  CLOUDFLARE_APP_ID: optionalText,
  CLOUDFLARE_API_TOKEN: optionalText,
  CLOUDFLARE_API_URL: urlWithDefault('https://api.cloudflare.com/client/v4'),
  CLOUDFLARE_WEBHOOK_PUBLIC_KEY: optionalPem,

  DYTE_ORG_ID: optionalText,
  DYTE_API_KEY: optionalText,
  DYTE_API_URL: urlWithDefault('https://api.dyte.io/v2'),
  DYTE_WEBHOOK_PUBLIC_KEY: optionalPem,

  TENBYTE_API_TOKEN: optionalText,
  TENBYTE_API_URL: urlWithDefault('https://api.tenbyte.io/v1/webinar'),
  // Not in Tenbyte's published page: assumed until confirmed, so configurable.
  TENBYTE_STATUS_PATH: pathTemplate('/sessions/{id}'),
  TENBYTE_STOP_PATH: pathTemplate('/sessions/{id}/end'),

  // LiveKit users are given a ws(s):// URL; its HTTP API (Twirp) lives at the same host.
  LIVEKIT_URL: z.preprocess(
    (value) => (typeof value === 'string' ? value.trim().replace(/^ws(s?):\/\//i, 'http$1://') : value),
    optionalUrl,
  ),
  LIVEKIT_API_KEY: optionalText,
  LIVEKIT_API_SECRET: optionalText,
});

/** Credentials that only make sense together: one without the others is a mistake, not "off". */
const CREDENTIAL_GROUPS: string[][] = [
  ['HMS_ACCESS_KEY', 'HMS_APP_SECRET'],
  ['CLOUDFLARE_ACCOUNT_ID', 'CLOUDFLARE_APP_ID', 'CLOUDFLARE_API_TOKEN'],
  ['DYTE_ORG_ID', 'DYTE_API_KEY'],
  ['LIVEKIT_URL', 'LIVEKIT_API_KEY', 'LIVEKIT_API_SECRET'],
];

export type Config = ReturnType<typeof toConfig>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function toConfig(env: z.infer<typeof environmentSchema>) {
  return {
    port: env.PORT,
    databaseUrl: env.DATABASE_URL,
    database: toDatabase(env),
    redisUrl: env.REDIS_URL,
    defaultProvider: env.DEFAULT_PROVIDER,
    sandboxStepMs: env.SANDBOX_STEP_MS,
    polling: {
      intervalMs: env.POLL_INTERVAL_MS,
      maxIntervalMs: env.POLL_MAX_INTERVAL_MS ?? Math.min(env.POLL_INTERVAL_MS * 12, 86_400_000),
      jitter: env.POLL_JITTER_PERCENT / 100,
      leaseMs: env.POLL_LEASE_MS,
      stuckAfterMs: env.POLL_STUCK_AFTER_MS,
      concurrency: env.POLL_CONCURRENCY,
      budgetWindowMs: env.POLL_BUDGET_WINDOW_MS,
      budgetReplicas: env.POLL_BUDGET_REPLICAS,
      budget: {
        SANDBOX: env.POLL_BUDGET_SANDBOX,
        HMS: env.POLL_BUDGET_HMS,
        CLOUDFLARE: env.POLL_BUDGET_CLOUDFLARE,
        DYTE: env.POLL_BUDGET_DYTE,
        TENBYTE: env.POLL_BUDGET_TENBYTE,
        LIVEKIT: env.POLL_BUDGET_LIVEKIT,
      } satisfies Record<ProviderId, number>,
    },
    maxSubscriptionsPerConnection: env.MAX_SUBSCRIPTIONS_PER_CONNECTION,
    production: env.NODE_ENV === 'production',
    urls: {
      production: env.NODE_ENV === 'production',
      allowPrivate: env.ALLOW_PRIVATE_URLS === 'true' || env.ALLOW_PRIVATE_URLS === '1',
    },
    webhooks: { pendingMaxAgeMs: env.WEBHOOK_PENDING_MAX_AGE_MS, pendingMax: env.WEBHOOK_PENDING_MAX },
    retention: { days: env.RETENTION_DAYS, batchSize: env.RETENTION_BATCH_SIZE, intervalMs: env.RETENTION_INTERVAL_MS },
    auth: {
      jwtSecret: env.AUTH_JWT_SECRET,
      jwksUrl: env.AUTH_JWKS_URL,
      issuer: env.AUTH_ISSUER,
      audience: env.AUTH_AUDIENCE?.split(',')
        .map((value) => value.trim())
        .filter(Boolean),
    },
    subgraphSecret: env.SUBGRAPH_SECRET,
    graphql: {
      // Introspection (and GraphiQL, which needs it) is on outside production unless turned off.
      introspection:
        env.GRAPHQL_INTROSPECTION === undefined
          ? env.NODE_ENV !== 'production'
          : env.GRAPHQL_INTROSPECTION === 'true' || env.GRAPHQL_INTROSPECTION === '1',
      maxDepth: env.GRAPHQL_MAX_DEPTH,
      maxCost: env.GRAPHQL_MAX_COST,
      maxAliases: env.GRAPHQL_MAX_ALIASES,
      maxTokens: env.GRAPHQL_MAX_TOKENS,
      maxDirectives: env.GRAPHQL_MAX_DIRECTIVES,
      wsInitTimeoutMs: env.WS_INIT_TIMEOUT_MS,
    },
    transport: {
      websocket: {
        maxBufferedBytes: env.WS_MAX_BUFFERED_BYTES,
        maxMessagesPerSecond: env.WS_MAX_MESSAGES_PER_SECOND,
        maxPendingInit: env.WS_MAX_PENDING_INIT,
      },
      maxConnections: env.HTTP_MAX_CONNECTIONS,
      headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: env.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      maxSseSubscriptionsPerClient: env.SSE_MAX_SUBSCRIPTIONS_PER_CLIENT,
      /** Origins whose pages may call the API from a browser (exact `scheme://host[:port]`). */
      corsOrigins: (env.CORS_ORIGINS ?? '')
        .split(',')
        .map((origin) => origin.trim().replace(/\/+$/, ''))
        .filter(Boolean),
    },
    callbacks: {
      urls: { allow: env.CALLBACK_URL_ALLOW, production: env.NODE_ENV === 'production' },
      timeoutMs: env.CALLBACK_TIMEOUT_MS,
      maxRetries: env.CALLBACK_MAX_RETRIES,
      maxSubscriptions: env.CALLBACK_MAX_SUBSCRIPTIONS,
      leaseMs: env.CALLBACK_LEASE_MS,
    },
    logLevel: env.LOG_LEVEL,
    metricsToken: env.METRICS_TOKEN,
    tracing: {
      // The standard OTLP rule: the traces endpoint as given, else the base endpoint + /v1/traces.
      tracesUrl:
        env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
        (env.OTEL_EXPORTER_OTLP_ENDPOINT ? `${env.OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces` : undefined),
      serviceName: env.OTEL_SERVICE_NAME,
    },
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    vendor: {
      timeoutMs: env.VENDOR_TIMEOUT_MS,
      maxRetries: env.VENDOR_MAX_RETRIES,
      maxRetryAfterMs: env.VENDOR_MAX_RETRY_AFTER_MS,
    },
    hms: {
      accessKey: env.HMS_ACCESS_KEY,
      appSecret: env.HMS_APP_SECRET,
      apiUrl: env.HMS_API_URL,
      webhookHeader: env.HMS_WEBHOOK_HEADER,
      webhookSecret: env.HMS_WEBHOOK_SECRET,
    },
    cloudflare: {
      accountId: env.CLOUDFLARE_ACCOUNT_ID,
      appId: env.CLOUDFLARE_APP_ID,
      apiToken: env.CLOUDFLARE_API_TOKEN,
      apiUrl: env.CLOUDFLARE_API_URL,
      webhookPublicKey: env.CLOUDFLARE_WEBHOOK_PUBLIC_KEY,
    },
    dyte: {
      orgId: env.DYTE_ORG_ID,
      apiKey: env.DYTE_API_KEY,
      apiUrl: env.DYTE_API_URL,
      webhookPublicKey: env.DYTE_WEBHOOK_PUBLIC_KEY,
    },
    tenbyte: {
      apiToken: env.TENBYTE_API_TOKEN,
      apiUrl: env.TENBYTE_API_URL,
      statusPath: env.TENBYTE_STATUS_PATH,
      stopPath: env.TENBYTE_STOP_PATH,
    },
    livekit: { url: env.LIVEKIT_URL, apiKey: env.LIVEKIT_API_KEY, apiSecret: env.LIVEKIT_API_SECRET },
  };
}

export type DatabaseConfig =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string; poolSize: number; connectTimeoutMs: number; statementTimeoutMs: number };

/** A postgres:// (or postgresql://) URL selects PostgreSQL; anything else is a SQLite path. */
function toDatabase(env: z.infer<typeof environmentSchema>): DatabaseConfig {
  if (!/^postgres(ql)?:\/\//i.test(env.DATABASE_URL)) return { kind: 'sqlite', path: env.DATABASE_URL };
  return {
    kind: 'postgres',
    url: env.DATABASE_URL,
    poolSize: env.DATABASE_POOL_SIZE,
    connectTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
    statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
  };
}

/** Reads the configuration from `env` (the process environment by default). */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = environmentSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`),
    );
  }
  const problems: string[] = [];
  for (const group of CREDENTIAL_GROUPS) {
    const set = group.filter((name) => parsed.data[name as keyof typeof parsed.data] !== undefined);
    if (set.length > 0 && set.length < group.length) {
      const missing = group.filter((name) => !set.includes(name));
      problems.push(`${missing.join(', ')}: required when ${set.join(', ')} ${set.length > 1 ? 'are' : 'is'} set`);
    }
  }
  problems.push(...authProblems(parsed.data));
  problems.push(...pollingProblems(parsed.data));
  if (parsed.data.HTTP_HEADERS_TIMEOUT_MS > parsed.data.HTTP_REQUEST_TIMEOUT_MS) {
    problems.push(
      'HTTP_HEADERS_TIMEOUT_MS: must be at most HTTP_REQUEST_TIMEOUT_MS (the request includes its headers)',
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return toConfig(parsed.data);
}
