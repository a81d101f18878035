import type { StreamKind } from '../domain/status.js';
import type { VendorObservation } from '../domain/types.js';
import type { StreamRef } from './provider.js';

/**
 * For vendors whose livestreams and recordings are one kind of job told apart by `kind` (100ms
 * jobs, LiveKit egresses): stops and reads of either go through one `stop` and one `fetch`.
 */
export abstract class JobProvider {
  protected abstract stop(kind: StreamKind, stream: StreamRef): Promise<VendorObservation>;
  protected abstract fetch(kind: StreamKind, stream: StreamRef): Promise<VendorObservation | null>;

  stopLivestream(stream: StreamRef): Promise<VendorObservation> {
    return this.stop('livestream', stream);
  }

  fetchLivestream(stream: StreamRef): Promise<VendorObservation | null> {
    return this.fetch('livestream', stream);
  }

  stopRecording(stream: StreamRef): Promise<VendorObservation> {
    return this.stop('recording', stream);
  }

  fetchRecording(stream: StreamRef): Promise<VendorObservation | null> {
    return this.fetch('recording', stream);
  }
}
