import { join } from 'node:path';
import { type BenchContext, type BenchResult, ratioResult, requestsPerSecond, startChild, tempDir } from './lib.js';

const QUERY = `{ activeLivestreams { id provider roomId externalId status vendorStatus version playbackUrl
  ingest { rtmpUrl streamKey whipUrl } failureReason startedAt stoppedAt createdAt updatedAt } }`;

async function post(port: number, query: string, variables?: unknown) {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data: any };
}

/** `activeLivestreams` returning 50 livestreams vs a bare yoga answering the same JSON from memory. */
export async function queryThroughput(ctx: BenchContext): Promise<BenchResult> {
  const duration = ctx.quick ? 4 : 12;
  const service = await startChild('service.ts', {
    DATABASE_URL: join(tempDir(), 'bench.sqlite'),
    SANDBOX_STEP_MS: '3600000',
    POLL_INTERVAL_MS: '3600000',
  });
  const baseline = await startChild('bare-yoga.ts');
  try {
    for (let i = 0; i < 50; i++) {
      await post(
        service.port,
        'mutation($room: String!) { startLivestream(input: { roomId: $room }) { __typename } }',
        { room: `bench-room-${i}` },
      );
    }
    const answer = await post(service.port, QUERY);
    if (answer.data.activeLivestreams.length !== 50) throw new Error('expected 50 active livestreams');
    await baseline.call('load', answer.data.activeLivestreams);
    const body = JSON.stringify({ query: QUERY });
    const request = { method: 'POST' as const, headers: { 'content-type': 'application/json' }, body };

    // Warm both up, then measure each in turn with the same client settings.
    await requestsPerSecond({ url: `http://127.0.0.1:${service.port}/graphql`, duration: 1, ...request });
    await requestsPerSecond({ url: `http://127.0.0.1:${baseline.port}/graphql`, duration: 1, ...request });
    const ours = await requestsPerSecond({ url: `http://127.0.0.1:${service.port}/graphql`, duration, ...request });
    const bare = await requestsPerSecond({ url: `http://127.0.0.1:${baseline.port}/graphql`, duration, ...request });
    ctx.log(`query: service ${ours.rps.toFixed(0)} req/s, bare yoga ${bare.rps.toFixed(0)} req/s`);
    if (ours.errors || ours.non2xx) throw new Error(`service answered ${ours.errors} errors, ${ours.non2xx} non-2xx`);
    return ratioResult(ours.rps, bare.rps, { atLeast: 0.8 }, { unit: 'req/s' });
  } finally {
    await service.stop();
    await baseline.stop();
  }
}
