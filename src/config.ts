import { z } from 'zod';
import { PROVIDERS } from './domain/status.js';

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

const environmentSchema = z.object({
  PORT: integer(0, 65535, 4000),
  DATABASE_URL: z.preprocess(emptyToUndefined, z.string().min(1).default('./data/livestreams.sqlite')),
  DEFAULT_PROVIDER: z.preprocess(
    emptyToUndefined,
    z.enum(PROVIDERS, { error: `must be one of ${PROVIDERS.join(', ')}` }).default('SANDBOX'),
  ),
  SANDBOX_STEP_MS: integer(0, 3_600_000, 1500),
  POLL_INTERVAL_MS: integer(50, 3_600_000, 5000),
  MAX_SUBSCRIPTIONS_PER_CONNECTION: integer(1, 100_000, 100),
  NODE_ENV: optionalText,
  LOG_LEVEL: z.preprocess(
    emptyToUndefined,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
  SHUTDOWN_TIMEOUT_MS: integer(0, 60_000, 5000),

  // Outbound calls to vendors.
  VENDOR_TIMEOUT_MS: integer(100, 120_000, 10_000),
  VENDOR_MAX_RETRIES: integer(0, 10, 3),

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
    defaultProvider: env.DEFAULT_PROVIDER,
    sandboxStepMs: env.SANDBOX_STEP_MS,
    pollIntervalMs: env.POLL_INTERVAL_MS,
    maxSubscriptionsPerConnection: env.MAX_SUBSCRIPTIONS_PER_CONNECTION,
    production: env.NODE_ENV === 'production',
    logLevel: env.LOG_LEVEL,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    vendor: { timeoutMs: env.VENDOR_TIMEOUT_MS, maxRetries: env.VENDOR_MAX_RETRIES },
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
  if (problems.length > 0) throw new ConfigError(problems);
  return toConfig(parsed.data);
}
