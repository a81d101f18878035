import type { NewStream } from '../../src/store/types.js';

export const STREAM_AT = new Date(Date.UTC(2026, 0, 1));

/**
 * A stream row as the store inserts it: a LIVE SANDBOX stream in room `room-<id>` with vendor id
 * `ext-<id>`, version 1, due for a poll, every time at `STREAM_AT`; `overrides` replace any field.
 * The store tests seed their rows with it (setup only: what they check goes through the store).
 */
export function streamRow(id: string, overrides: Partial<NewStream> = {}): NewStream {
  return {
    id,
    provider: 'SANDBOX',
    roomId: `room-${id}`,
    externalId: `ext-${id}`,
    sessionId: null,
    status: 'LIVE',
    vendorStatus: null,
    version: 1,
    failureReason: null,
    idempotencyKey: null,
    startedAt: null,
    stoppedAt: null,
    createdAt: STREAM_AT,
    updatedAt: STREAM_AT,
    nextPollAt: STREAM_AT,
    pollIntervalMs: 1000,
    ...overrides,
  };
}
