import type { NewStream } from '../src/store/types.js';

/**
 * The webhook benchmarks' streams: HMS livestreams in STARTING, `wh-stream-<i>` in room
 * `wh-room-<i>` with vendor id `wh-ext-<i>`, not polled for a day.
 */
export function webhookStreams(count: number): NewStream[] {
  const now = new Date();
  const far = new Date(Date.now() + 24 * 60 * 60 * 1000);
  return Array.from({ length: count }, (_, i) => ({
    id: `wh-stream-${i}`,
    provider: 'HMS',
    roomId: `wh-room-${i}`,
    externalId: `wh-ext-${i}`,
    sessionId: null,
    status: 'STARTING',
    vendorStatus: null,
    version: 1,
    failureReason: null,
    idempotencyKey: null,
    startedAt: null,
    stoppedAt: null,
    createdAt: now,
    updatedAt: now,
    nextPollAt: far,
  }));
}
