import { join } from 'node:path';
import {
  type BenchContext,
  type BenchResult,
  percentile,
  ratioResult,
  requestsPerSecond,
  startBoth,
  startChild,
  tempDir,
} from './lib.js';

export const QUERY = `{ activeLivestreams { id provider roomId externalId status vendorStatus version playbackUrl
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
  const duration = ctx.quick ? 1 : 3;
  const rounds = ctx.quick ? 1 : 4;
  const [service, baseline] = await startBoth(
    startChild('service.ts', {
      DATABASE_URL: join(tempDir(), 'bench.sqlite'),
      SANDBOX_STEP_MS: '3600000',
      POLL_INTERVAL_MS: '3600000',
    }),
    startChild('bare-yoga.ts'),
  );
  try {
    const start = (i: number) =>
      post(service.port, 'mutation($room: String!) { startLivestream(input: { roomId: $room }) { __typename } }', {
        room: `bench-room-${i}`,
      });
    // Quick mode starts them side by side (setup: the store's group commit takes them together).
    if (ctx.quick) await Promise.all(Array.from({ length: 50 }, (_, i) => start(i)));
    else for (let i = 0; i < 50; i++) await start(i);
    const answer = await post(service.port, QUERY);
    if (answer.data.activeLivestreams.length !== 50) throw new Error('expected 50 active livestreams');
    await baseline.call('load', answer.data.activeLivestreams);
    const body = JSON.stringify({ query: QUERY });
    const request = { method: 'POST' as const, headers: { 'content-type': 'application/json' }, body };

    // Warm both up, then alternate short rounds with the same client settings, so both see the
    // same machine; the figure is each one's median round.
    const ourUrl = `http://127.0.0.1:${service.port}/graphql`;
    const bareUrl = `http://127.0.0.1:${baseline.port}/graphql`;
    const warmUp = ctx.quick ? 0.5 : 1;
    const warmUps = [ourUrl, bareUrl].map((url) => () => requestsPerSecond({ url, duration: warmUp, ...request }));
    // Quick mode warms both up together (not measured), full mode one after the other.
    if (ctx.quick) await Promise.all(warmUps.map((warm) => warm()));
    else for (const warm of warmUps) await warm();
    const ourRates: number[] = [];
    const bareRates: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const ours = await requestsPerSecond({ url: ourUrl, duration, ...request });
      if (ours.errors || ours.non2xx) throw new Error(`service answered ${ours.errors} errors, ${ours.non2xx} non-2xx`);
      ourRates.push(ours.rps);
      bareRates.push((await requestsPerSecond({ url: bareUrl, duration, ...request })).rps);
    }
    const ours = { rps: percentile(ourRates, 50) };
    const bare = { rps: percentile(bareRates, 50) };
    ctx.log(
      `query: service ${ours.rps.toFixed(0)} req/s, bare yoga ${bare.rps.toFixed(0)} req/s ` +
        `(medians of ${rounds} alternating rounds: ${ourRates.map((r) => r.toFixed(0)).join(', ')} vs ${bareRates.map((r) => r.toFixed(0)).join(', ')})`,
    );
    return ratioResult(ours.rps, bare.rps, { atLeast: 1.0 }, { unit: 'req/s' });
  } finally {
    await service.stop();
    await baseline.stop();
  }
}
