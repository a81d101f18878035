// `npx tsx bench/profile-retention.ts [rows] [--against=<tree>] [--rounds=2] [--alone]`: what
// pruning costs on SQLite, per tree, alternating rounds (a tree with its own node_modules and
// bench/servers/service.ts, e.g. a copy of main). Per round: the service's CPU time per 1,000
// pruned history rows (read from /proc, all threads: the checkpoint worker and the flushes
// included) and, unless `--alone`, the webhook 2xx latency at 200/s before and during the whole
// prune (not only its first seconds, as bench/retention.ts measures). On a loaded machine the
// CPU per row says more than the times; alternate the trees to compare the latencies.
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cliOptions, cpuMs, percentile, ROOT, type startChild, tempDir } from './lib.js';
import { pacedDeliveries as paced, RATE, RETENTION_HEADER, RETENTION_SECRET } from './retention.js';

const options = cliOptions();
const rows = Number(process.argv.slice(2).find((arg) => !arg.startsWith('--')) ?? 200_000);
const rounds = Number(options.get('rounds') ?? (options.has('against') ? 2 : 1));
const alone = options.has('alone');
const trees = [ROOT, ...(options.has('against') ? [resolve(options.get('against') as string)] : [])];
/** Streams seeded for webhooks: one delivery each, enough for a prune of a few minutes. */
const WEBHOOK_STREAMS = 20_000;

function summary(times: number[]): string {
  return `p50 ${percentile(times, 50).toFixed(1)} p99 ${percentile(times, 99).toFixed(1)} max ${Math.max(...times).toFixed(0)} ms (n=${times.length})`;
}

async function round(tree: string): Promise<string> {
  const lib: { startChild: typeof startChild } = await import(pathToFileURL(join(tree, 'bench', 'lib.ts')).href);
  const service = await lib.startChild('service.ts', {
    DATABASE_URL: join(tempDir(), 'retention.sqlite'),
    SANDBOX_STEP_MS: '3600000',
    POLL_INTERVAL_MS: '3600000',
    RETENTION_INTERVAL_MS: '604800000',
    HTTP_KEEP_ALIVE_TIMEOUT_MS: '600000',
    HMS_ACCESS_KEY: 'k',
    HMS_APP_SECRET: 's',
    HMS_WEBHOOK_HEADER: RETENTION_HEADER,
    HMS_WEBHOOK_SECRET: RETENTION_SECRET,
  });
  const url = `http://127.0.0.1:${service.port}/webhooks/hms`;
  const pid = service.child.pid as number;
  try {
    if (!alone) await service.call('seed', { count: WEBHOOK_STREAMS });
    await service.call('seed-old-history', { streams: rows / 5, events: 5, days: 100 });
    let without: number[] = [];
    if (!alone) {
      await paced(url, 0, 'warm', (j) => j >= RATE);
      without = await paced(url, RATE, 'without', (j) => j >= 3 * RATE);
    }
    let done = false;
    const cpuBefore = cpuMs(pid);
    const pruning = service.call<{ historyRows: number; ms: number }>('prune').then((report) => {
      done = true;
      return report;
    });
    const during = alone ? [] : await paced(url, 4 * RATE, 'during', (j) => done || 4 * RATE + j >= WEBHOOK_STREAMS);
    const report = await pruning;
    const cpu = cpuMs(pid) - cpuBefore;
    const perK = (cpu / report.historyRows) * 1000;
    return (
      `pruned ${report.historyRows} in ${(report.ms / 1000).toFixed(1)} s, service CPU ${cpu} ms ` +
      `(${perK.toFixed(1)} ms per 1,000 rows${alone ? '' : ', webhooks included'})` +
      (alone ? '' : `\n    without: ${summary(without)}\n    during:  ${summary(during)}`)
    );
  } finally {
    await service.stop();
  }
}

for (let r = 0; r < rounds; r++) {
  for (const tree of trees) {
    const result = await round(tree);
    console.log(`${tree} round ${r + 1}: ${result}`);
  }
}
