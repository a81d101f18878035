import { RealtimeKitFake } from './realtimekit.js';

/**
 * Dyte v2: base `DYTE_API_URL` (`…/v2`), `Authorization: Basic base64(organizationId:apiKey)`,
 * errors as `{success: false, error: {code, message}}`. The start answers `OFFLINE`, the active read
 * adds `ingest_seconds` and `viewer_seconds`, and there is no read-one livestream path.
 */
export interface DyteFake extends RealtimeKitFake {
  /** The value for DYTE_API_URL. */
  apiUrl: string;
  env: Record<string, string>;
  /** `env` plus DYTE_WEBHOOK_PUBLIC_KEY: webhooks configured with the fake's signing key. */
  webhookEnv: Record<string, string>;
}

export const DYTE_AUTH_ERROR = 'Unauthorized: invalid organization id or API key';

export async function startDyteFake(options: { orgId?: string; apiKey?: string } = {}): Promise<DyteFake> {
  const orgId = options.orgId ?? 'org-188566bc-8770-4ca0';
  const apiKey = options.apiKey ?? 'dyte-key-AfnVpeYZjidOfBpWKody7sDU';
  const expected = `Basic ${Buffer.from(`${orgId}:${apiKey}`).toString('base64')}`;
  const errorBody = (message: string, code: number) => ({ success: false, error: { code, message } });
  const fake = new RealtimeKitFake({
    basePath: '/v2',
    authorize: (authorization) => authorization === expected,
    unauthorized: { status: 401, body: errorBody(DYTE_AUTH_ERROR, 401) },
    errorBody,
    livestreamStartStatus: 'OFFLINE',
    livestreamStoppedStatus: 'OFFLINE',
    readOneLivestream: false,
    activeLivestreamExtras: () => ({ ingest_seconds: 0, viewer_seconds: 0 }),
    webhookHeaderPrefix: 'dyte',
    livestreamWebhookDetails: false,
    startLivestreamFields: ['status', 'name', 'meeting_id', 'ingest_server', 'id', 'stream_key', 'playback_url'],
  });
  await fake.listen();
  const apiUrl = `${fake.url}/v2`;
  const env = { DYTE_ORG_ID: orgId, DYTE_API_KEY: apiKey, DYTE_API_URL: apiUrl };
  // A getter, so the RSA key pair is only made by tests that use webhooks.
  Object.defineProperty(fake, 'webhookEnv', {
    get: () => ({ ...env, DYTE_WEBHOOK_PUBLIC_KEY: fake.webhookPublicKeyPem }),
  });
  return Object.assign(fake as typeof fake & { webhookEnv: Record<string, string> }, { apiUrl, env });
}
