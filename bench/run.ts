// `npm run bench [-- --quick] [-- --only=name,name] [-- --repeat=N]`: every benchmark against a baseline
// measured in the same run, written to bench/results.json and bench/RESULTS.md. With `--repeat=N` each
// benchmark runs N times (each in a fresh process) and every figure is the median run's, with the
// ratios' spread (lowest–highest) in the note.

import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { prepareBundle } from './bundle.js';
import { callbackFanOut } from './callbacks.js';
import { catchUp } from './catchup.js';
import { coldStartAndMemory } from './coldstart.js';
import { fanOut, poolClientProcesses } from './fanout.js';
import {
  type BenchContext,
  type BenchResult,
  deferDatabaseDrops,
  dropDeferredDatabases,
  startChildrenFrom,
  stopEveryChild,
  timeline,
} from './lib.js';
import { queryThroughput } from './query.js';
import { replicaFanOut } from './replica-fanout.js';
import { replicaDelivery } from './replicas.js';
import { retentionPruning } from './retention.js';
import { webhookIntake } from './webhooks.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
const repeat = Math.max(1, Number(args.find((a) => a.startsWith('--repeat='))?.slice(9) ?? 1) || 1);
const ctx: BenchContext = {
  quick,
  log: (message) => (process.env.BENCH_TIMELINE ? timeline(message) : console.log(`  ${message}`)),
};

type Bench = (ctx: BenchContext) => Promise<Record<string, BenchResult>>;
// The heaviest last: 19,000 sockets leave the machine busy for a while after they close.
const BENCHES: Record<string, Bench> = {
  query: async (c) => ({ query_throughput: await queryThroughput(c) }),
  webhooks: (c) => webhookIntake(c, 'sqlite'),
  'webhooks-postgres': (c) => webhookIntake(c, 'postgres'),
  coldstart: async (c) => {
    const { start, memory } = await coldStartAndMemory(c);
    return { cold_start_ms: start, idle_rss_mb: memory };
  },
  catchup: async (c) => ({ catch_up: await catchUp(c) }),
  replicas: replicaDelivery,
  retention: retentionPruning,
  callbacks: callbackFanOut,
  'replica-fanout': replicaFanOut,
  fanout: fanOut,
};

/** Pause between two benchmarks, for what the last one left behind (closing sockets, freed memory). */
const SETTLE_MS = quick ? 0 : 3000;

// `--one=name`: this process runs that benchmark alone and hands its figures to the parent.
const one = args.find((a) => a.startsWith('--one='))?.slice(6);
if (one) {
  const bench = BENCHES[one];
  if (!bench) throw new Error(`no benchmark named ${one}`);
  const figures = await bench(ctx);
  process.send?.({ figures }, () => process.disconnect());
} else {
  await runAll();
}

/**
 * Each benchmark runs in a fresh process of its own, so none inherits another's heap, timers or
 * garbage (the load generators live in this parent-side process).
 */
function runIsolated(name: string): Promise<Record<string, BenchResult>> {
  const child = fork(fileURLToPath(import.meta.url), [`--one=${name}`, ...(quick ? ['--quick'] : [])], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    let figures: Record<string, BenchResult> | undefined;
    child.on('message', (message: { figures?: Record<string, BenchResult> }) => {
      figures = message.figures;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (figures) resolve(figures);
      else reject(new Error(`${name} exited with ${code} before reporting`));
    });
  });
}

async function runAll(): Promise<void> {
  const results: Record<string, BenchResult> = {};
  const times: string[] = [];
  const began = Date.now();
  process.on('exit', (code) => {
    if (code !== 0) console.error(`bench exited with ${code}`);
  });
  // Quick mode's children start from a bundle, not through tsx: 15 service starts cost it its minute.
  if (quick) startChildrenFrom(await prepareBundle(ctx.log));
  // Quick mode drops its PostgreSQL databases together once every benchmark is done, and keeps its
  // client processes from one benchmark to the next.
  if (quick) deferDatabaseDrops();
  if (quick) poolClientProcesses();
  let first = true;
  for (const name of Object.keys(BENCHES)) {
    if (only && !only.includes(name)) continue;
    const runs: Record<string, BenchResult>[] = [];
    const seconds: number[] = [];
    for (let run = 0; run < repeat; run++) {
      if (!first) await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      first = false;
      const runBegan = Date.now();
      console.log(`${name}${quick ? ' (quick)' : ''}${repeat > 1 ? ` run ${run + 1} of ${repeat}` : ''}`);
      try {
        // Quick mode runs them here, in this process: four more Node starts would cost it its minute.
        runs.push(quick ? await (BENCHES[name] as Bench)(ctx) : await runIsolated(name));
      } catch (error) {
        // One broken benchmark must not cost the others their figures: recorded as failed.
        console.error(`  ${name} failed:`, error);
        runs.push({
          [name]: { value: 0, baseline: 0, ratio: 0, target: 'ran to the end', pass: false, note: String(error) },
        });
      }
      seconds.push((Date.now() - runBegan) / 1000);
      console.log(`  done in ${(seconds.at(-1) ?? 0).toFixed(1)} s`);
    }
    Object.assign(results, medianRun(runs));
    times.push(`| ${name} | ${seconds.map((s) => s.toFixed(0)).join(', ')} |`);
  }
  if (quick) {
    const dropping = Date.now();
    await Promise.all([dropDeferredDatabases(), stopEveryChild()]);
    console.log(`PostgreSQL databases dropped in ${((Date.now() - dropping) / 1000).toFixed(1)} s`);
  }

  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 1024 ** 3).toFixed(1)} GiB, Node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} at the end`;
  writeFileSync(new URL('./results.json', import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
  const rows = Object.entries(results).map(
    ([name, r]) =>
      `| ${name} | ${r.value}${r.unit ? ` ${r.unit}` : ''} | ${r.baseline} | ${r.ratio} | ${r.target} | ${r.pass ? 'pass' : 'FAIL'} | ${r.note ?? ''} |`,
  );
  writeFileSync(
    new URL('./RESULTS.md', import.meta.url),
    [
      '# Benchmark results',
      '',
      `Machine: ${machine}. Mode: ${quick ? 'quick' : 'full'}${repeat > 1 ? `, each benchmark run ${repeat} times (figures: the median run)` : ''}. Run: ${new Date().toISOString()}, ${((Date.now() - began) / 1000).toFixed(0)} s in all.`,
      'Each figure is measured against a baseline in the same run (see bench/README.md).',
      '',
      '| benchmark | value | baseline | ratio | target | result | note |',
      '|---|---|---|---|---|---|---|',
      ...rows,
      '',
      '| benchmark | seconds per run |',
      '|---|---|',
      ...times,
      '',
    ].join('\n'),
  );
  console.table(results);
}

/**
 * One benchmark's figures over its repeated runs: each figure is the median run's (by ratio, or by
 * value for figures that are only reported), its note prefixed with every run's ratio and their
 * spread; it passes only when the median passes and no run failed to finish.
 */
function medianRun(runs: Record<string, BenchResult>[]): Record<string, BenchResult> {
  if (runs.length === 1) return runs[0] ?? {};
  const combined: Record<string, BenchResult> = {};
  const names = new Set(runs.flatMap((run) => Object.keys(run)));
  for (const name of names) {
    const figures = runs.map((run) => run[name]).filter((r): r is BenchResult => r !== undefined);
    const key = (r: BenchResult) => (r.ratio !== 0 ? r.ratio : r.value);
    const sorted = [...figures].sort((a, b) => key(a) - key(b));
    const median = sorted[Math.floor((sorted.length - 1) / 2)] as BenchResult;
    const keys = figures.map(key);
    const spread = `${Math.min(...keys)}–${Math.max(...keys)}`;
    const what = median.ratio !== 0 ? 'ratios' : 'values';
    combined[name] = {
      ...median,
      pass: median.pass && figures.length === runs.length && figures.every((r) => r.target !== 'ran to the end'),
      note: `median of ${figures.length} runs; ${what} ${keys.join(', ')} (spread ${spread})${median.note ? `; ${median.note}` : ''}`,
    };
  }
  return combined;
}
