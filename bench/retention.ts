import { join } from 'node:path';
import { type BenchContext, type BenchResult, percentile, ratioResult, round, startChild, tempDir } from './lib.js';

export const RETENTION_SECRET = 'bench-retention-secret';
export const RETENTION_HEADER = 'x-hms-webhook-secret';
/** Deliveries per second while measuring, without and with pruning. */
export const RATE = 200;
/** History rows per seeded old stream (a stream's life: STARTING, LIVE, STOPPING, STOPPED, one more). */
const EVENTS_PER_STREAM = 5;

function envelope(deliveryId: string, i: number): string {
  return JSON.stringify({
    version: '2.0',
    id: deliveryId,
    app_id: 'bench-app',
    account_id: 'bench-account',
    timestamp: new Date().toISOString(),
    type: 'hls.started.success',
    data: { room_id: `wh-room-${i}`, session_id: 'bench-session', stream_id: `wh-ext-${i}` },
  });
}

/**
 * Sends 100ms deliveries at RATE per second until `until(j)` answers true for the j-th, each for
 * its own seeded stream from `first` (STARTING → LIVE, a real change), and answers each one's time
 * to its 2xx, as the vendor sees it. Also bench/profile-retention.ts's load.
 */
export async function pacedDeliveries(
  url: string,
  first: number,
  tag: string,
  until: (j: number) => boolean,
): Promise<number[]> {
  const times: number[] = [];
  const sends: Promise<void>[] = [];
  const began = performance.now();
  for (let j = 0; !until(j); j++) {
    while ((performance.now() - began) * (RATE / 1000) < j) await new Promise((resolve) => setTimeout(resolve, 1));
    const sent = performance.now();
    sends.push(
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [RETENTION_HEADER]: RETENTION_SECRET },
        body: envelope(`${tag}-${j}`, first + j),
      }).then(async (response) => {
        await response.arrayBuffer();
        if (!response.ok) throw new Error(`retention bench: a delivery answered ${response.status}`);
        times.push(performance.now() - sent);
      }),
    );
  }
  await Promise.all(sends);
  return times;
}

function paced(url: string, first: number, count: number, tag: string): Promise<number[]> {
  return pacedDeliveries(url, first, tag, (j) => j >= count);
}

/**
 * Retention's cost to the live path: webhook p99 (time to the 2xx at RATE/s) while the service
 * prunes 1 million history rows of streams that ended 100 days ago (120,000 in quick mode),
 * against the same measure just before, on the same database, in the same run.
 */
export async function retentionPruning(ctx: BenchContext): Promise<Record<string, BenchResult>> {
  const rows = ctx.quick ? 120_000 : 1_000_000;
  const seconds = ctx.quick ? 1.5 : 6;
  const perWindow = RATE * seconds;
  const dir = tempDir();
  const service = await startChild('service.ts', {
    DATABASE_URL: join(dir, 'retention.sqlite'),
    SANDBOX_STEP_MS: '3600000',
    POLL_INTERVAL_MS: '3600000',
    // The background run stays out of the way; the benchmark starts one itself.
    RETENTION_INTERVAL_MS: '604800000',
    // fetch reuses idle connections: one closed by the server's keep-alive timer as a delivery
    // goes out on it fails ("other side closed"), a race of the client, not of the service.
    HTTP_KEEP_ALIVE_TIMEOUT_MS: '600000',
    HMS_ACCESS_KEY: 'bench-access-key',
    HMS_APP_SECRET: 'bench-app-secret',
    HMS_WEBHOOK_HEADER: RETENTION_HEADER,
    HMS_WEBHOOK_SECRET: RETENTION_SECRET,
  });
  const url = `http://127.0.0.1:${service.port}/webhooks/hms`;
  let without: number[] = [];
  let during: number[] = [];
  let pruned = { historyRows: 0, ms: 0 };
  let stillPruning = false;
  try {
    await service.call('seed', { count: 3 * perWindow, bulk: ctx.quick });
    const seeded = await service.call<number>('seed-old-history', {
      streams: rows / EVENTS_PER_STREAM,
      events: EVENTS_PER_STREAM,
      days: 100,
    });
    ctx.log(`retention: seeded ${seeded.toLocaleString('en')} history rows of streams final for 100 days`);
    // Warm-up: 1 s of deliveries (quick mode 0.5 s).
    await paced(url, 0, ctx.quick ? RATE / 2 : RATE, 'warm-up');
    without = await paced(url, perWindow, perWindow, 'without');
    let done = false;
    const pruning = service.call<{ historyRows: number; ms: number }>('prune').then((report) => {
      done = true;
      return report;
    });
    during = await paced(url, 2 * perWindow, perWindow, 'during');
    stillPruning = !done;
    pruned = await pruning;
  } finally {
    await service.stop();
  }

  const p99Without = percentile(without, 99);
  const p99During = percentile(during, 99);
  ctx.log(
    `retention: webhook p99 ${p99During.toFixed(1)} ms while pruning, ${p99Without.toFixed(1)} ms without ` +
      `(p50 ${percentile(during, 50).toFixed(1)} / ${percentile(without, 50).toFixed(1)} ms, ${RATE}/s); pruned ` +
      `${pruned.historyRows.toLocaleString('en')} rows in ${(pruned.ms / 1000).toFixed(1)} s` +
      (stillPruning ? '' : ' (finished before the measuring window: the window was not all under pruning)'),
  );
  const result = ratioResult(
    p99During,
    p99Without,
    { atMost: 2 },
    {
      unit: 'ms',
      note:
        `webhook p99 (to 2xx, ${RATE}/s, ${perWindow} deliveries) while pruning ${pruned.historyRows} history rows ` +
        `(${(pruned.ms / 1000).toFixed(1)} s, ${round(pruned.historyRows / (pruned.ms / 1000), 0)} rows/s); baseline: ` +
        `the same measure without pruning${stillPruning ? '' : '; pruning ended inside the window'}`,
    },
  );
  result.pass = result.pass && pruned.historyRows === rows;
  return { retention_webhook_p99_ms: result };
}
