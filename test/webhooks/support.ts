import { expect } from 'vitest';
import { type Collected, storedRows } from '../helpers.js';

/**
 * What the service wrote, read straight from its database (a second connection, as an operator's
 * would be): the tests check that refused deliveries left no trace.
 */
export interface StoredTrace {
  deliveries: { provider: string; delivery_id: string; event_type: string | null; processed_at: number | null }[];
  statusEvents: number;
}

export async function storedTrace(dbPath: string): Promise<StoredTrace> {
  const deliveries = await storedRows<StoredTrace['deliveries'][number]>(
    dbPath,
    'SELECT provider, delivery_id, event_type, processed_at FROM webhook_deliveries ORDER BY id',
  );
  const [count] = await storedRows<{ n: number }>(dbPath, 'SELECT COUNT(*) AS n FROM status_events');
  return { deliveries, statusEvents: count?.n ?? 0 };
}

/** Raw payloads kept in a stream's history, oldest first. */
export function storedPayloads(
  dbPath: string,
  streamId: string,
): Promise<{ source: string; payload: string | null }[]> {
  return storedRows(dbPath, 'SELECT source, payload FROM status_events WHERE stream_id = ? ORDER BY id', [streamId]);
}

export const LIVESTREAM_WATCH = `subscription Watch($id: ID!) {
  livestreamChanged(id: $id) { id status vendorStatus version externalId playbackUrl }
}`;
export const RECORDING_WATCH = `subscription Watch($id: ID!) {
  recordingChanged(id: $id) { id status vendorStatus version externalId assets { type url size urlExpiresAt } }
}`;
export const LIVESTREAM_READ = `query Read($id: ID!) {
  livestream(id: $id) { id status vendorStatus version externalId failureReason
    history { status vendorStatus source version applied } }
}`;
export const RECORDING_READ = `query Read($id: ID!) {
  recording(id: $id) { id status vendorStatus version externalId failureReason
    assets { type path size durationSeconds url urlExpiresAt }
    history { status vendorStatus source version applied } }
}`;

/** Statuses a subscriber saw, consecutive repeats (detail-only changes) folded. */
export function distinctStatuses(events: { status: string }[]): string[] {
  return events.map((e) => e.status).filter((status, i, all) => status !== all[i - 1]);
}

/** Every event carries a version higher than the one before. */
export function expectVersionsIncreasing(events: { version: number }[]): void {
  for (let i = 1; i < events.length; i++) {
    expect(events[i]!.version, `version after ${events[i - 1]!.version}`).toBeGreaterThan(events[i - 1]!.version);
  }
}

/** Resolves when the subscription completed, failing after `ms`. */
export async function completedWithin(seen: Collected<unknown>, ms = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    seen.completed,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`subscription did not complete within ${ms} ms`)), ms);
    }),
  ]);
  clearTimeout(timer);
}
