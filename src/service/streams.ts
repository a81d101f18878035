import type { Logger } from 'pino';
import { ConflictError, DomainError, NotFoundError, ProviderError, ValidationError } from '../domain/errors.js';
import {
  type StartLivestreamInput,
  type StartRecordingInput,
  startLivestreamInput,
  startRecordingInput,
} from '../domain/inputs.js';
import { isActive, type ProviderId, type StreamKind } from '../domain/status.js';
import type { LivestreamRecord, RecordingRecord, RecordOf, VendorObservation } from '../domain/types.js';
import { parseInput } from '../domain/validation.js';
import { conflictPayload, type StreamLifecycle } from '../lifecycle/index.js';
import type { ProviderRegistry } from '../providers/index.js';
import type { Provider, StreamRef } from '../providers/provider.js';
import type { Store } from '../store/types.js';

export type { StartLivestreamInput, StartRecordingInput } from '../domain/inputs.js';

/**
 * Starts and stops streams through their providers. Every change it makes goes through the
 * lifecycle (creation first, then the vendor's answer), like the webhooks' and the poller's.
 */
export class StreamService {
  constructor(
    private readonly store: Store,
    private readonly lifecycle: StreamLifecycle,
    private readonly providers: ProviderRegistry,
    private readonly defaultProvider: ProviderId,
    private readonly logger: Logger,
  ) {}

  startLivestream(input: StartLivestreamInput): Promise<LivestreamRecord> {
    const valid = parseInput(startLivestreamInput, input);
    return this.start('livestream', valid, (provider, id) => provider.startLivestream({ ...valid, streamId: id }));
  }

  startRecording(input: StartRecordingInput): Promise<RecordingRecord> {
    const valid = parseInput(startRecordingInput, input);
    return this.start('recording', valid, (provider, id) => provider.startRecording({ ...valid, recordingId: id }));
  }

  stopLivestream(id: string): Promise<LivestreamRecord> {
    return this.stop('livestream', id);
  }

  stopRecording(id: string): Promise<RecordingRecord> {
    return this.stop('recording', id);
  }

  private async start<K extends StreamKind>(
    kind: K,
    input: { provider?: ProviderId | null; roomId: string; idempotencyKey?: string | null },
    callVendor: (provider: Provider, id: string) => Promise<VendorObservation>,
  ): Promise<RecordOf<K>> {
    const providerId = input.provider ?? this.defaultProvider;
    const provider = this.providers.get(providerId);
    if (!provider.configured) {
      throw new ProviderError('PROVIDER_NOT_CONFIGURED', providerId, `Provider ${providerId} is not configured`);
    }
    const supported = kind === 'livestream' ? provider.capabilities.livestreams : provider.capabilities.recordings;
    if (!supported) {
      throw new ValidationError(`Provider ${providerId} does not support ${kind}s`, 'provider');
    }

    const created = await this.lifecycle.create(kind, {
      provider: providerId,
      roomId: input.roomId,
      idempotencyKey: input.idempotencyKey ?? null,
    });
    if (!created.created) return created.stream;
    const id = created.stream.id;

    let observation: VendorObservation;
    try {
      observation = await callVendor(provider, id);
    } catch (error) {
      const failure = toProviderError(providerId, error, this.logger);
      await this.lifecycle.apply({
        kind,
        streamId: id,
        status: 'FAILED',
        source: 'API',
        failureReason: `${failure.code}: ${failure.message}`,
      });
      throw failure;
    }
    return this.applyAnswer(kind, id, observation);
  }

  private async stop<K extends StreamKind>(kind: K, id: string): Promise<RecordOf<K>> {
    const stream = await this.store.streams.get(kind, id);
    if (!stream) throw new NotFoundError(kind, id);
    if (!isActive(kind, stream.status) || stream.status === 'STOPPING') return stream;
    if (!stream.externalId) {
      throw new ConflictError(
        `The ${kind} is still being started on ${stream.provider}; stop it once the start has answered`,
        ...conflictPayload(kind, stream),
      );
    }
    const provider = this.providers.get(stream.provider);
    const ref: StreamRef = {
      id: stream.id,
      roomId: stream.roomId,
      externalId: stream.externalId,
      sessionId: stream.sessionId,
      status: stream.status,
    };
    let observation: VendorObservation;
    try {
      observation = kind === 'livestream' ? await provider.stopLivestream(ref) : await provider.stopRecording(ref);
    } catch (error) {
      // A failed stop changes nothing here: the vendor may still be live, and polling will tell.
      throw toProviderError(stream.provider, error, this.logger);
    }
    return this.applyAnswer(kind, stream.id, observation);
  }

  /** The vendor's answer to a start or stop, applied (history keeps the answer itself). */
  private async applyAnswer<K extends StreamKind>(
    kind: K,
    id: string,
    observation: VendorObservation,
  ): Promise<RecordOf<K>> {
    const result = await this.lifecycle.observe(kind, id, observation, { source: 'API' });
    if (!result) throw new NotFoundError(kind, id);
    return result.stream;
  }
}

function toProviderError(provider: ProviderId, error: unknown, logger: Logger): ProviderError {
  if (error instanceof ProviderError) return error;
  if (error instanceof DomainError) {
    return new ProviderError('PROVIDER_REJECTED', provider, error.message);
  }
  logger.error({ err: error, provider }, 'provider call failed unexpectedly');
  return new ProviderError('PROVIDER_UNAVAILABLE', provider, `Provider ${provider} failed to answer`);
}
