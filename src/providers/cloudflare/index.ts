import type { Config } from '../../config.js';
import type { LivestreamStatus, RecordingStatus } from '../../domain/status.js';
import type { Provider, ProviderDefinition } from '../provider.js';
import { RealtimeKitApi } from '../realtimekit-api/api.js';
import { RealtimeKitFamilyProvider } from '../realtimekit-api/provider.js';
import { REALTIMEKIT_RECORDING_STATUS } from '../realtimekit-api/status.js';

/**
 * Cloudflare RealtimeKit livestreams: `INVOKED | LIVE | IDLE | ERRORED` from the REST API;
 * `OFFLINE` comes from webhooks and means STOPPED once the livestream was seen LIVE or asked to
 * stop (see `mapLivestreamStatus`), STARTING before.
 */
export const CLOUDFLARE_LIVESTREAM_STATUS: Readonly<Record<string, LivestreamStatus>> = {
  INVOKED: 'STARTING',
  OFFLINE: 'STARTING',
  LIVE: 'LIVE',
  IDLE: 'STOPPED',
  ERRORED: 'FAILED',
};

export const CLOUDFLARE_RECORDING_STATUS: Readonly<Record<string, RecordingStatus>> = REALTIMEKIT_RECORDING_STATUS;

/** `{CLOUDFLARE_API_URL}/accounts/{account_id}/realtime/kit/{app_id}` */
export function cloudflareBaseUrl(apiUrl: string, accountId: string, appId: string): string {
  return `${apiUrl}/accounts/${encodeURIComponent(accountId)}/realtime/kit/${encodeURIComponent(appId)}`;
}

export const cloudflare: ProviderDefinition = {
  id: 'CLOUDFLARE',
  capabilities: { livestreams: true, recordings: true, webhooks: true },
  webhookPath: '/webhooks/cloudflare',
  create: createCloudflareProvider,
};

export function createCloudflareProvider(config: Config): Provider | null {
  const { accountId, appId, apiToken, apiUrl, webhookPublicKey } = config.cloudflare;
  if (!accountId || !appId || !apiToken) return null;
  return new RealtimeKitFamilyProvider({
    capabilities: cloudflare.capabilities,
    api: new RealtimeKitApi({
      provider: 'CLOUDFLARE',
      baseUrl: cloudflareBaseUrl(apiUrl, accountId, appId),
      authorization: `Bearer ${apiToken}`,
      secrets: [apiToken],
      ...config.vendor,
    }),
    livestreamStatus: CLOUDFLARE_LIVESTREAM_STATUS,
    recordingStatus: CLOUDFLARE_RECORDING_STATUS,
    livestreamRead: 'by-id',
    // `rtk-signature` / `rtk-uuid`, verified with CLOUDFLARE_WEBHOOK_PUBLIC_KEY.
    ...(webhookPublicKey ? { webhook: { headerPrefix: 'rtk', publicKeyPem: webhookPublicKey } } : {}),
  });
}
