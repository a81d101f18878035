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

/** The headers of the webhook benchmarks' 100ms deliveries (the bench service's secret is `secret`). */
export const HMS_DELIVERY_HEADERS = { 'content-type': 'application/json', 'x-hms-webhook-secret': 'secret' };

/** The body of 100ms delivery `<prefix>-<i>`: `hls.started.success` for stream `wh-ext-<i>` (STARTING → LIVE). */
export function hmsStartedBody(i: number, prefix = 'c'): string {
  return JSON.stringify({
    version: '2.0',
    id: `${prefix}-${i}`,
    app_id: 'a',
    account_id: 'b',
    timestamp: new Date().toISOString(),
    type: 'hls.started.success',
    data: { room_id: `wh-room-${i}`, stream_id: `wh-ext-${i}`, session_id: 's' },
  });
}
