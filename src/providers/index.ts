import type { Config } from '../config.js';
import { PROVIDERS, type ProviderId } from '../domain/status.js';
import { createCloudflareProvider } from './cloudflare/index.js';
import { createDyteProvider } from './dyte/index.js';
import { createHmsProvider } from './hms/index.js';
import { createLivekitProvider } from './livekit/index.js';
import { type Provider, type ProviderCapabilities, UnconfiguredProvider, type VendorEventSink } from './provider.js';
import { SandboxProvider } from './sandbox.js';
import { createTenbyteProvider } from './tenbyte/index.js';

/** What each vendor can do, as its documentation describes it (shown by the `providers` query). */
export const CAPABILITIES: Record<ProviderId, ProviderCapabilities> = {
  SANDBOX: { livestreams: true, recordings: true, webhooks: true },
  HMS: { livestreams: true, recordings: true, webhooks: true },
  CLOUDFLARE: { livestreams: true, recordings: true, webhooks: true },
  DYTE: { livestreams: true, recordings: true, webhooks: true },
  TENBYTE: { livestreams: true, recordings: false, webhooks: false },
  LIVEKIT: { livestreams: true, recordings: true, webhooks: true },
};

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

export interface ProviderContext {
  /** Where providers that push events (the sandbox) deliver them. */
  report: VendorEventSink;
}

/** A vendor's factory answers `null` when its credentials are not set. */
export type ProviderFactory = (config: Config, context: ProviderContext) => Provider | null;

const FACTORIES: Record<Exclude<ProviderId, 'SANDBOX'>, ProviderFactory> = {
  HMS: createHmsProvider,
  CLOUDFLARE: createCloudflareProvider,
  DYTE: createDyteProvider,
  TENBYTE: createTenbyteProvider,
  LIVEKIT: createLivekitProvider,
};

export function createProviders(config: Config, context: ProviderContext): ProviderRegistry {
  const providers = new Map<ProviderId, Provider>();
  providers.set('SANDBOX', new SandboxProvider({ stepMs: config.sandboxStepMs, report: context.report }));
  for (const [id, create] of Object.entries(FACTORIES) as [Exclude<ProviderId, 'SANDBOX'>, ProviderFactory][]) {
    providers.set(id, create(config, context) ?? new UnconfiguredProvider(id, CAPABILITIES[id]));
  }
  return new ProviderRegistry(providers);
}
