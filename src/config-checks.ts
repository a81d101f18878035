// Rules between configuration values, checked by config.ts once the environment is parsed.

/** The parsed variables the auth rule reads. */
interface AuthEnvironment {
  NODE_ENV?: string;
  AUTH_JWT_SECRET?: string;
  AUTH_JWKS_URL?: string;
  AUTH_ISSUER?: string;
  AUTH_AUDIENCE?: string;
}

/** The parsed variables the polling rules read. */
interface PollingEnvironment {
  POLL_INTERVAL_MS: number;
  POLL_MAX_INTERVAL_MS?: number;
  POLL_LEASE_MS: number;
  VENDOR_TIMEOUT_MS: number;
  VENDOR_MAX_RETRIES: number;
}

/** Auth is one of two modes, and production never runs open. */
export function authProblems(env: AuthEnvironment): string[] {
  const problems: string[] = [];
  const configured = env.AUTH_JWT_SECRET !== undefined || env.AUTH_JWKS_URL !== undefined;
  if (env.AUTH_JWT_SECRET !== undefined && env.AUTH_JWKS_URL !== undefined) {
    problems.push('AUTH_JWT_SECRET, AUTH_JWKS_URL: set one of them, not both');
  }
  for (const name of ['AUTH_ISSUER', 'AUTH_AUDIENCE'] as const) {
    if (env[name] !== undefined && !configured) {
      problems.push(`${name}: only meaningful with AUTH_JWT_SECRET or AUTH_JWKS_URL, and neither is set`);
    }
  }
  if (env.NODE_ENV === 'production' && !configured) {
    problems.push(
      'AUTH_JWT_SECRET or AUTH_JWKS_URL: required when NODE_ENV=production (the service refuses to run without authentication)',
    );
  }
  return problems;
}

/** Polling values that only make sense relative to each other. */
export function pollingProblems(env: PollingEnvironment): string[] {
  const problems: string[] = [];
  if (env.POLL_MAX_INTERVAL_MS !== undefined && env.POLL_MAX_INTERVAL_MS < env.POLL_INTERVAL_MS) {
    problems.push(`POLL_MAX_INTERVAL_MS: must be at least POLL_INTERVAL_MS (${env.POLL_INTERVAL_MS})`);
  }
  // A lease shorter than one vendor read could let a second poller read the same stream at once.
  const slowestRead = env.VENDOR_TIMEOUT_MS * (env.VENDOR_MAX_RETRIES + 1);
  if (env.POLL_LEASE_MS <= slowestRead) {
    problems.push(
      `POLL_LEASE_MS: must be longer than the slowest vendor read, VENDOR_TIMEOUT_MS × (VENDOR_MAX_RETRIES + 1) = ${slowestRead} ms`,
    );
  }
  return problems;
}
