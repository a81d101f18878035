// `npx tsx bench/profile-retention.ts [rows] [--cpu-prof] [--prune-only]`: what retention's pruning costs the
// event loop, in measures that hold on a loaded machine. The service (its own process, SQLite)
// prunes `rows` history rows (default 100,000) of streams final for 100 days while it takes 100ms
// webhooks at 200/s; printed: the event loop's delay (p50/p99/max of a 1 ms timer) while pruning
// and during as long a window without, the service's CPU time (all threads) per 1,000 rows pruned,
// the rows/s, and the webhooks' p99 to 2xx in both windows. With --cpu-prof, a CPU profile of
// the pruning window is written to a temp folder whose path is printed.
import { join } from 'node:path';
import { percentile, startChild, tempDir } from './lib.js';

const rows = Number(process.argv.find((arg) => /^\d+$/.test(arg)) ?? 100_000);
const profile = process.argv.includes('--cpu-prof');
/** --prune-only: no webhooks and no window without pruning (the event loop's turns are pruning's alone). */
const pruneOnly = process.argv.includes('--prune-only');
const RATE = 200;
const SECRET = 'secret';
const dir = tempDir('livestream-profile-');
const service = await startChild('service.ts', {
  DATABASE_URL: join(dir, 'retention.sqlite'),
  SANDBOX_STEP_MS: '3600000',
  POLL_INTERVAL_MS: '3600000',
  RETENTION_INTERVAL_MS: '604800000',
  HTTP_KEEP_ALIVE_TIMEOUT_MS: '600000',
  HMS_ACCESS_KEY: 'k',
  HMS_APP_SECRET: 's',
  HMS_WEBHOOK_SECRET: SECRET,
});
const url = `http://127.0.0.1:${service.port}/webhooks/hms`;

/** Webhooks at RATE/s from stream `first` on, until `until()` says stop; answers times to 2xx. */
async function paced(first: number, until: () => boolean): Promise<number[]> {
  const times: number[] = [];
  const sends: Promise<void>[] = [];
  const began = performance.now();
  for (let j = 0; !until(); j++) {
    while ((performance.now() - began) * (RATE / 1000) < j) await new Promise((resolve) => setTimeout(resolve, 1));
    const sent = performance.now();
    const i = first + j;
    const body = JSON.stringify({
      version: '2.0',
      id: `d-${i}`,
      app_id: 'a',
      account_id: 'b',
      timestamp: new Date().toISOString(),
      type: 'hls.started.success',
      data: { room_id: `wh-room-${i}`, session_id: 's', stream_id: `wh-ext-${i}` },
    });
    sends.push(
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hms-webhook-secret': SECRET },
        body,
      }).then(async (response) => {
        await response.arrayBuffer();
        // One not answered 2xx (a 408 past the request timeout) counts as taking forever.
        times.push(response.ok ? performance.now() - sent : Number.POSITIVE_INFINITY);
      }),
    );
  }
  await Promise.all(sends);
  return times;
}

type Usage = { user: number; system: number };
type Loop = unknown;
try {
  await service.call('seed', { count: 40_000 });
  await service.call('seed-old-history', { streams: rows / 5, events: 5, days: 100 });
  await paced(
    0,
    (
      (end) => () =>
        performance.now() > end
    )(performance.now() + 1000),
  );

  // While pruning.
  await service.call('loop-start');
  if (profile) await service.call('cpu-start');
  const cpuBefore = await service.call<Usage>('cpu-usage');
  const began = performance.now();
  let done = false;
  const pruning = service.call<{ historyRows: number; ms: number }>('prune').then((report) => {
    done = true;
    return report;
  });
  const during = pruneOnly ? [] : await paced(1000, () => done);
  const report = await pruning;
  const seconds = (performance.now() - began) / 1000;
  const cpuAfter = await service.call<Usage>('cpu-usage');
  const profilePath = profile ? await service.call<string>('cpu-stop', join(dir, 'retention.cpuprofile')) : null;
  const loopDuring = await service.call<Loop>('loop-stop');

  // As long without.
  await service.call('loop-start');
  const cpuIdle = await service.call<Usage>('cpu-usage');
  const idleBegan = performance.now();
  const without = pruneOnly
    ? []
    : await paced(
        1000 + during.length,
        (
          (end) => () =>
            performance.now() > end
        )(performance.now() + seconds * 1000),
      );
  const cpuIdleAfter = await service.call<Usage>('cpu-usage');
  const loopWithout = await service.call<Loop>('loop-stop');
  const idleSeconds = (performance.now() - idleBegan) / 1000;

  const cpuMs = (a: Usage, b: Usage) => (b.user - a.user + b.system - a.system) / 1000;
  const webhookCpuPerS = cpuMs(cpuIdle, cpuIdleAfter) / idleSeconds;
  const pruneCpu = cpuMs(cpuBefore, cpuAfter) - webhookCpuPerS * seconds;
  console.log(
    JSON.stringify(
      {
        rows: report.historyRows,
        seconds: Math.round(seconds * 10) / 10,
        rowsPerS: Math.round(report.historyRows / seconds),
        pruneCpuMsPer1000Rows: Math.round((pruneCpu / report.historyRows) * 1000 * 100) / 100,
        loopDelayMs: { pruning: loopDuring, without: loopWithout },
        webhookMs: {
          pruning: {
            p50: percentile(during, 50),
            p99: percentile(during, 99),
            n: during.length,
            failed: during.filter((t) => t === Number.POSITIVE_INFINITY).length,
          },
          without: {
            p50: percentile(without, 50),
            p99: percentile(without, 99),
            n: without.length,
            failed: without.filter((t) => t === Number.POSITIVE_INFINITY).length,
          },
        },
        profile: profilePath,
      },
      null,
      1,
    ),
  );
} finally {
  await service.stop();
}
