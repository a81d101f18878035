import type { Config } from '../config.js';
import { PROVIDERS, type ProviderId } from '../domain/status.js';
import { cloudflare } from './cloudflare/index.js';
import { dyte } from './dyte/index.js';
import { hms } from './hms/index.js';
import { livekit } from './livekit/index.js';
import { type Provider, type ProviderContext, type ProviderDefinition, UnconfiguredProvider } from './provider.js';
import { sandbox } from './sandbox.js';
import { tenbyte } from './tenbyte/index.js';

export type { ProviderContext, ProviderDefinition } from './provider.js';

/** Every vendor, as each one's folder declares it. */
export const PROVIDER_DEFINITIONS: Readonly<Record<ProviderId, ProviderDefinition>> = {
  SANDBOX: sandbox,
  HMS: hms,
  CLOUDFLARE: cloudflare,
  DYTE: dyte,
  TENBYTE: tenbyte,
  LIVEKIT: livekit,
};

/** Webhook routes (path → provider), from the vendors' declarations. */
export const WEBHOOK_ROUTES: ReadonlyMap<string, ProviderId> = new Map(
  PROVIDERS.flatMap((id) => {
    const path = PROVIDER_DEFINITIONS[id].webhookPath;
    return path ? [[path, id] as const] : [];
  }),
);

export class ProviderRegistry {
  constructor(private readonly providers: ReadonlyMap<ProviderId, Provider>) {}

  get(id: ProviderId): Provider {
    const provider = this.providers.get(id);
    if (!provider) throw new Error(`Unknown provider ${id}`);
    return provider;
  }

  list(): Provider[] {
    return PROVIDERS.map((id) => this.get(id));
  }

  close(): void {
    for (const provider of this.providers.values()) provider.close?.();
  }
}

/** Builds every provider; a vendor whose credentials are not set is listed as not configured. */
export function createProviders(config: Config, context: ProviderContext): ProviderRegistry {
  const providers = new Map<ProviderId, Provider>();
  for (const id of PROVIDERS) {
    const definition = PROVIDER_DEFINITIONS[id];
    providers.set(id, definition.create(config, context) ?? new UnconfiguredProvider(definition));
  }
  return new ProviderRegistry(providers);
}
