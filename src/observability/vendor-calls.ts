import type { ProviderId } from '../domain/status.js';
import { countVendorCall } from './metrics.js';
import { inSpan } from './tracing.js';

/** The calls a provider makes to its vendor, by the name they are counted under. */
const OPERATIONS = [
  'startLivestream',
  'stopLivestream',
  'fetchLivestream',
  'startRecording',
  'stopRecording',
  'fetchRecording',
  'renewAssetUrl',
] as const;

/** An error's bounded name for the `outcome` label: its code (`ProviderError`), else `error`. */
function outcomeOf(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^[A-Z_]{1,40}$/.test(code) ? code.toLowerCase() : 'error';
}

/**
 * Wraps a provider's vendor calls (in place, on the instance): each is counted by outcome, timed,
 * and, with tracing on, a span. Retries inside a call count as one call, as a caller sees it.
 */
export function instrumentProvider<P extends { readonly id: ProviderId; readonly configured: boolean }>(
  provider: P,
): P {
  if (!provider.configured) return provider;
  const target = provider as unknown as Record<string, unknown>;
  for (const operation of OPERATIONS) {
    const method = target[operation];
    if (typeof method !== 'function') continue;
    const call = method.bind(provider) as (...args: unknown[]) => Promise<unknown>;
    const attributes = { 'livestream.provider': provider.id, 'livestream.vendor.operation': operation };
    target[operation] = (...args: unknown[]) =>
      inSpan(`vendor.${operation}`, attributes, () => {
        const started = performance.now();
        const seconds = () => (performance.now() - started) / 1000;
        return call(...args).then(
          (value) => {
            countVendorCall(provider.id, operation, 'ok', seconds());
            return value;
          },
          (error: unknown) => {
            countVendorCall(provider.id, operation, outcomeOf(error), seconds());
            throw error;
          },
        );
      });
  }
  return provider;
}
