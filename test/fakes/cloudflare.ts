import { RealtimeKitFake } from './realtimekit.js';

/**
 * Cloudflare RealtimeKit: `{CLOUDFLARE_API_URL}/accounts/{account_id}/realtime/kit/{app_id}`,
 * `Authorization: Bearer <API token>`, errors in Cloudflare's `{success: false, errors: [{code, message}]}`.
 * Point `CLOUDFLARE_API_URL` at `fake.apiUrl`.
 */
export interface CloudflareFake extends RealtimeKitFake {
  /** The value for CLOUDFLARE_API_URL. */
  apiUrl: string;
  env: Record<string, string>;
  /** `env` plus CLOUDFLARE_WEBHOOK_PUBLIC_KEY: webhooks configured with the fake's signing key. */
  webhookEnv: Record<string, string>;
}

export const CLOUDFLARE_AUTH_ERROR = 'Authentication error';

export async function startCloudflareFake(
  options: { accountId?: string; appId?: string; apiToken?: string } = {},
): Promise<CloudflareFake> {
  const accountId = options.accountId ?? 'acc_0123456789abcdef';
  const appId = options.appId ?? 'app_0123456789abcdef';
  const apiToken = options.apiToken ?? 'cf-token-Sn3lZJTBX6kkg7OdcBUAxOO963GEIyGQ';
  const errorBody = (message: string, code: number) => ({
    success: false,
    errors: [{ code, message }],
    messages: [],
    result: null,
  });
  const fake = new RealtimeKitFake({
    basePath: `/client/v4/accounts/${accountId}/realtime/kit/${appId}`,
    authorize: (authorization) => authorization === `Bearer ${apiToken}`,
    unauthorized: { status: 401, body: errorBody(CLOUDFLARE_AUTH_ERROR, 10000) },
    errorBody,
    livestreamStartStatus: 'INVOKED',
    livestreamStoppedStatus: 'IDLE',
    readOneLivestream: true,
    webhookHeaderPrefix: 'rtk',
    livestreamWebhookDetails: true,
    startLivestreamFields: ['id', 'ingest_server', 'playback_url', 'status', 'stream_key'],
  });
  await fake.listen();
  const apiUrl = `${fake.url}/client/v4`;
  const env = {
    CLOUDFLARE_ACCOUNT_ID: accountId,
    CLOUDFLARE_APP_ID: appId,
    CLOUDFLARE_API_TOKEN: apiToken,
    CLOUDFLARE_API_URL: apiUrl,
  };
  // A getter, so the RSA key pair is only made by tests that use webhooks.
  Object.defineProperty(fake, 'webhookEnv', {
    get: () => ({ ...env, CLOUDFLARE_WEBHOOK_PUBLIC_KEY: fake.webhookPublicKeyPem }),
  });
  return Object.assign(fake as typeof fake & { webhookEnv: Record<string, string> }, { apiUrl, env });
}
