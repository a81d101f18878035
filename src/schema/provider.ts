import type { Provider } from '../providers/provider.js';
import { builder } from './builder.js';
import { ProviderEnum } from './enums.js';

const ProviderInfoRef = builder.objectRef<Provider>('ProviderInfo').implement({
  description: 'A video vendor and what this service can do with it.',
  fields: (t) => ({
    provider: t.field({ type: ProviderEnum, resolve: (p) => p.id }),
    configured: t.exposeBoolean('configured'),
    livestreams: t.boolean({ resolve: (p) => p.capabilities.livestreams }),
    recordings: t.boolean({ resolve: (p) => p.capabilities.recordings }),
    webhooks: t.boolean({ resolve: (p) => p.capabilities.webhooks }),
  }),
});

builder.queryFields((t) => ({
  providers: t.field({
    type: [ProviderInfoRef],
    description: 'Every Provider value, configured or not.',
    resolve: (_root, _args, ctx) => ctx.providers.list(),
  }),
}));
