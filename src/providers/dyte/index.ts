import type { Config } from '../../config.js';
import type { LivestreamStatus, RecordingStatus } from '../../domain/status.js';
import type { Provider, ProviderDefinition } from '../provider.js';
import { RealtimeKitApi } from '../realtimekit-api/api.js';
import { RealtimeKitFamilyProvider } from '../realtimekit-api/provider.js';
import { REALTIMEKIT_RECORDING_STATUS } from '../realtimekit-api/status.js';

/**
 * Dyte livestreams: the start answers `OFFLINE`, the active read `LIVE`, webhooks `LIVE | OFFLINE`.
 * The full list is unconfirmed, so RealtimeKit's values (the same API under Cloudflare) are read
 * too and any other value keeps the stream where it is. `OFFLINE` means STOPPED once the
 * livestream was seen LIVE or asked to stop (see `mapLivestreamStatus`), STARTING before.
 */
export const DYTE_LIVESTREAM_STATUS: Readonly<Record<string, LivestreamStatus>> = {
  OFFLINE: 'STARTING',
  INVOKED: 'STARTING',
  LIVE: 'LIVE',
  IDLE: 'STOPPED',
  ERRORED: 'FAILED',
};

/** "States as RealtimeKit." */
export const DYTE_RECORDING_STATUS: Readonly<Record<string, RecordingStatus>> = REALTIMEKIT_RECORDING_STATUS;

export const dyte: ProviderDefinition = {
  id: 'DYTE',
  capabilities: { livestreams: true, recordings: true, webhooks: true },
  webhookPath: '/webhooks/dyte',
  create: createDyteProvider,
};

export function createDyteProvider(config: Config): Provider | null {
  const { orgId, apiKey, apiUrl, webhookPublicKey } = config.dyte;
  if (!orgId || !apiKey) return null;
  const basicCredential = Buffer.from(`${orgId}:${apiKey}`).toString('base64');
  return new RealtimeKitFamilyProvider({
    capabilities: dyte.capabilities,
    api: new RealtimeKitApi({
      provider: 'DYTE',
      baseUrl: apiUrl,
      authorization: `Basic ${basicCredential}`,
      secrets: [apiKey, basicCredential],
      ...config.vendor,
    }),
    livestreamStatus: DYTE_LIVESTREAM_STATUS,
    recordingStatus: DYTE_RECORDING_STATUS,
    // Dyte documents no read-one path for a livestream: polls read the meeting's active one.
    livestreamRead: 'meeting-active',
    // `dyte-signature` / `dyte-uuid`, verified with DYTE_WEBHOOK_PUBLIC_KEY.
    ...(webhookPublicKey ? { webhook: { headerPrefix: 'dyte', publicKeyPem: webhookPublicKey } } : {}),
  });
}
