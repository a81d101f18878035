import { join } from 'node:path';
import autocannon from 'autocannon';
import type { TestDatabase } from '../test/support/postgres.js';
import { openClients, untilCounted, waitForSubscriptions } from './fanout.js';
import { IntakeCpu } from './intake-cpu.js';
import {
  type BenchContext,
  type BenchResult,
  benchDatabase,
  type ChildServer,
  percentile,
  ratioResult,
  round,
  startBoth,
  startChild,
  tempDir,
} from './lib.js';

export const SECRET = 'bench-webhook-secret';
export const HEADER = 'x-hms-webhook-secret';
const SUBSCRIBERS = 1000;
const QUICK_SUBSCRIBERS = 300;
const RATE = 500;

/**
 * A 100ms delivery for seeded stream `i` (in room wh-room-i), with its own id:
 * `hls.started.success` moves it STARTING → LIVE, `hls.stopped.success` LIVE → STOPPED.
 */
export function envelope(deliveryId: string, i: number, type = 'hls.started.success'): string {
  return JSON.stringify({
    version: '2.0',
    id: deliveryId,
    app_id: 'bench-app',
    account_id: 'bench-account',
    timestamp: new Date().toISOString(),
    type,
    data: {
      room_id: `wh-room-${i}`,
      session_id: 'bench-session',
      stream_id: `wh-ext-${i}`,
      playback_url: `https://cdn.example.test/hls/${i}/master.m3u8`,
    },
  });
}

/**
 * Autocannon rounds of deliveries (10 connections) at `url` or another target: one count per
 * target, so the service's deliveries each get a stream of their own (a bare server's requests,
 * many more, must not use up the service's streams, or later rounds would apply deliveries that
 * change nothing). Also bench/intake-baseline.ts's load.
 */
export function deliveryRounds(url: string, streams: number) {
  const sequences = new Map<string, number>();
  return (duration: number, target = url) =>
    autocannon({
      url: target,
      connections: 10,
      duration,
      requests: [
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', [HEADER]: SECRET },
          setupRequest: (request) => {
            const n = sequences.get(target) ?? 0;
            sequences.set(target, n + 1);
            return { ...request, body: envelope(`bench-${n}`, n % streams) };
          },
        },
      ],
    });
}

/** Where the service keeps its data, and the raw inserts it is measured against. */
export type IntakeEngine = 'sqlite' | 'postgres';

/**
 * Webhook intake on the 100ms route: verified (secret header), durable and applied deliveries per
 * second under autocannon, against raw durable single-row inserts into the same engine in the same
 * run, one connection committing one row at a time (SQLite: better-sqlite3 with synchronous=FULL;
 * PostgreSQL: autocommit inserts, see servers/bare-postgres.ts; its note also gives the rate of
 * 10 connections inserting at once). Then the p99 time from a webhook's 2xx to the
 * subscriber's event, at 500 deliveries per second with 1,000 subscribers (one per room, each
 * delivery concerns one). The note also gives the ceiling measured in the same rounds: the same
 * requests answered by a bare node:http server that stores nothing (servers/bare-webhook.ts).
 */
export async function webhookIntake(
  ctx: BenchContext,
  engine: IntakeEngine = 'sqlite',
): Promise<Record<string, BenchResult>> {
  const seconds = ctx.quick ? 1 : 4;
  const rounds = ctx.quick ? 1 : 4;
  // Each delivery concerns one subscriber, and a stream has two changes to give (LIVE, STOPPED).
  const types = ctx.quick ? ['hls.started.success'] : ['hls.started.success', 'hls.stopped.success'];
  // Enough streams that every delivery of the throughput rounds makes a change of its own.
  // Quick on PostgreSQL: 5,000 (its rounds, 1.5 s with the warm-up, have reached 2,350/s at most),
  // for its seeding (one round trip a stream, 9 s for 8,300 at load 10).
  const throughputStreams = ctx.quick ? (engine === 'postgres' ? 5_000 : 8_000) : 100_000;
  // Quick: 300 subscribers, half their rooms get a delivery (0.3 s at 500/s).
  const subscribers = ctx.quick ? QUICK_SUBSCRIBERS : SUBSCRIBERS;
  const latencyDeliveries = ctx.quick ? subscribers / 2 : subscribers * types.length;
  const dir = tempDir();
  // PostgreSQL: one fresh database for the service and one for the baseline, dropped at the end.
  const databases: TestDatabase[] = engine === 'postgres' ? await Promise.all([benchDatabase(), benchDatabase()]) : [];
  const [serviceDb, bareDb] = databases;

  // The baseline process stays up beside the service: rounds alternate between them, so both
  // see the same machine (the disk's fsync time and the other load vary over a run).
  const [bare, service] = await startBoth(
    bareDb
      ? startChild('bare-postgres.ts', { BENCH_DATABASE_URL: bareDb.url })
      : startChild('bare-sqlite.ts', { BENCH_DIR: dir }),
    startChild('service.ts', {
      DATABASE_URL: serviceDb ? serviceDb.url : join(dir, 'webhooks.sqlite'),
      SANDBOX_STEP_MS: '3600000',
      POLL_INTERVAL_MS: '3600000',
      HMS_ACCESS_KEY: 'bench-access-key',
      HMS_APP_SECRET: 'bench-app-secret',
      HMS_WEBHOOK_HEADER: HEADER,
      HMS_WEBHOOK_SECRET: SECRET,
      // Intake is measured here, not retention (its own benchmark): no background run in the rounds.
      BENCH_RETENTION: 'off',
    }),
  );
  const bareRates: number[] = [];
  const ceilingRates: number[] = [];
  let ceiling: ChildServer | undefined;
  const url = `http://127.0.0.1:${service.port}/webhooks/hms`;
  let ours = 0;
  let bareRate = 0;
  let ceilingRate = 0;
  let concurrentRate = 0;
  const latencies: number[] = [];
  let missing = 0;
  let refused = 0;
  let achievedRate = 0;
  // PostgreSQL: the CPU per delivery of the service, its backends and autocannon, and the rate they allow.
  const cpu = serviceDb ? new IntakeCpu(service, serviceDb.name) : null;
  try {
    await service.call('seed', { count: throughputStreams + subscribers, bulk: ctx.quick });
    const forged = await fetch(url, { method: 'POST', body: envelope('refused', 0), headers: { [HEADER]: 'wrong' } });
    if (forged.status !== 401) throw new Error(`a bad secret answered ${forged.status}, not 401`);

    // ── throughput ──
    // The ceiling: the same requests, verified and parsed by a bare HTTP server that stores nothing.
    ceiling = await startChild('bare-webhook.ts', { HMS_WEBHOOK_HEADER: HEADER, HMS_WEBHOOK_SECRET: SECRET });
    const ceilingUrl = `http://127.0.0.1:${ceiling.port}/webhooks/hms`;
    const run = deliveryRounds(url, throughputStreams);
    const warmUp = ctx.quick ? 0.5 : 1;
    const warmUps = [
      () => run(warmUp),
      () => run(warmUp, ceilingUrl),
      () => bare.call('inserts', { seconds: warmUp, payload: envelope('warm-up', 0) }),
    ];
    // Quick mode warms the three up together (not measured), full mode one after the other.
    if (ctx.quick) await Promise.all(warmUps.map((warm) => warm()));
    else for (const warm of warmUps) await warm();
    const rates: number[] = [];
    for (let round = 0; round < rounds; round++) {
      bareRates.push(await bare.call<number>('inserts', { seconds, payload: envelope('bare', 0) }));
      const result = cpu
        ? await cpu.measure(
            () => run(seconds),
            (r) => r['2xx'],
          )
        : await run(seconds);
      const bareHttp = await run(seconds, ceilingUrl);
      for (const r of [result, bareHttp]) {
        if (r.errors || r.non2xx) throw new Error(`webhooks: ${r.errors} errors, ${r.non2xx} non-2xx`);
      }
      rates.push(result.requests.average);
      ceilingRates.push(bareHttp.requests.average);
    }
    ours = percentile(rates, 50);
    bareRate = percentile(bareRates, 50);
    ceilingRate = percentile(ceilingRates, 50);
    await ceiling.stop();
    ceiling = undefined;
    // Only for the note: quick mode leaves it out (as the replicas' serial-commit probe).
    if (engine === 'postgres' && !ctx.quick) {
      concurrentRate = await bare.call<number>('inserts', { seconds, payload: envelope('bare', 0), connections: 10 });
    }
    ctx.log(
      `webhooks (${engine}): ${ours.toFixed(0)} deliveries/s, raw durable inserts ${bareRate.toFixed(0)}/s ` +
        `(medians of ${rounds} alternating rounds: ${rates.map((r) => r.toFixed(0)).join(', ')} vs ${bareRates.map((r) => r.toFixed(0)).join(', ')}); ` +
        `bare HTTP server ${ceilingRate.toFixed(0)}/s (${ceilingRates.map((r) => r.toFixed(0)).join(', ')})`,
    );
    if (cpu) ctx.log(`webhooks (${engine}): ${cpu.describe(bareRate)}`);
    await bare.stop();

    // ── 2xx → subscriber's event, at 500 deliveries/s with 1,000 subscribers ──
    // The service's own listeners (webhook intake) count among its subscribers too.
    const own = await service.call<number>('subscribers');
    const clients = await openClients(`ws://127.0.0.1:${service.port}/graphql`, subscribers, (j) => ({
      query: 'subscription($room: String!) { livestreamChanged(roomId: $room) { id status } }',
      variables: { room: `wh-room-${throughputStreams + j}` },
      concerned: true,
    }));
    try {
      // Every subscription registered before the first delivery, or an event could go unheard.
      await waitForSubscriptions(service, own + subscribers);
      await Promise.all(clients.processes.map((p) => p.call('collect')));
      const acknowledged = new Map<string, number>();
      const sends: Promise<void>[] = [];
      const began = performance.now();
      for (let j = 0; j < latencyDeliveries; j++) {
        // Paced: send whatever is due, then wait a tick (timers are too coarse for one per 2 ms).
        while ((performance.now() - began) * (RATE / 1000) < j) {
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        const i = throughputStreams + (j % subscribers);
        const pass = Math.floor(j / subscribers);
        const key = `wh-stream-${i}:${pass === 0 ? 'LIVE' : 'STOPPED'}`;
        sends.push(
          fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', [HEADER]: SECRET },
            body: envelope(`latency-${j}`, i, types[pass]),
          }).then(async (response) => {
            const at = performance.timeOrigin + performance.now();
            await response.arrayBuffer();
            if (response.ok) acknowledged.set(key, at);
            else refused++;
          }),
        );
      }
      await Promise.all(sends);
      achievedRate = latencyDeliveries / ((performance.now() - began) / 1000);
      await untilCounted(clients.processes, 'collected-count', acknowledged.size, ctx.quick ? 500 : 1000);
      const arrivals: Record<string, number> = {};
      for (const p of clients.processes) Object.assign(arrivals, await p.call<Record<string, number>>('collected'));
      for (const [id, at] of acknowledged) {
        const arrived = arrivals[id];
        if (arrived === undefined) missing++;
        else latencies.push(arrived - at);
      }
      missing += latencyDeliveries - acknowledged.size;
    } finally {
      await clients.stop();
    }
  } finally {
    await ceiling?.stop();
    await service.stop();
    await bare.stop();
    await Promise.all(databases.map((database) => database.drop()));
  }

  const p99 = percentile(latencies, 99);
  const prefix = engine === 'postgres' ? 'postgres_' : '';
  ctx.log(
    `webhooks (${engine}): 2xx → event p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms at ` +
      `${achievedRate.toFixed(0)} deliveries/s with ${subscribers} subscribers; ${missing} missing (${refused} not answered 2xx)`,
  );
  return {
    [`${prefix}webhook_deliveries_per_s`]: ratioResult(
      ours,
      bareRate,
      // Issue 17: 0.7x on SQLite, 0.6x on PostgreSQL (issue 13 asked 0.5x).
      { atLeast: engine === 'postgres' ? 0.6 : 0.7 },
      {
        unit: 'deliveries/s',
        note:
          `${engine}: verified, recorded and applied (STARTING → LIVE) 100ms deliveries; baseline: raw durable single-row inserts` +
          (engine === 'postgres'
            ? ` from one connection, one commit each (10 connections at once: ${ctx.quick ? 'not measured (quick)' : `${concurrentRate.toFixed(0)}/s`}); ` +
              (cpu?.describe(bareRate) ?? '')
            : '') +
          `; service at ${round(ours / ceilingRate)}× of a bare HTTP server answering the same requests ` +
          `(${ceilingRate.toFixed(0)}/s, ${round(ceilingRate / bareRate)}× the raw inserts; servers/bare-webhook.ts)`,
      },
    ),
    [`${prefix}webhook_2xx_to_event_p99_ms`]: {
      value: round(p99),
      baseline: round(percentile(latencies, 50)),
      ratio: 0,
      target: 'reported (p99; baseline column is the p50)',
      pass: missing === 0,
      unit: 'ms',
      note:
        `${latencies.length} deliveries at ${achievedRate.toFixed(0)}/s (asked ${RATE}/s), ${subscribers} subscribers, ` +
        `${missing} events missing (${refused} deliveries not answered 2xx); negative means the event arrived before the 2xx`,
    },
  };
}
