import type { ProviderId, StreamKind } from '../domain/status.js';
import type { RecordOf } from '../domain/types.js';

/**
 * `DeliveryStore.recordFinding`: a delivery recorded (as `record`) with the stream its one event
 * names by vendor id read as `StreamStore.findByExternalId` reads it (its row locked for the
 * change inside a transaction): a webhook's two statements before its change, one round trip
 * where the store can (PostgreSQL, `postgres/intake.ts`). `stream` is undefined when no stream
 * has that vendor id, and when the delivery is a duplicate.
 */
export interface StreamLookup<K extends StreamKind> {
  kind: K;
  provider: ProviderId;
  externalId: string;
}

export interface RecordedFinding<K extends StreamKind> {
  inserted: boolean;
  id: number;
  stream: RecordOf<K> | undefined;
}
