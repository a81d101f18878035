// `npm run bench [-- --quick] [-- --only=name,name]`: every benchmark against a baseline measured in
// the same run, written to bench/results.json and bench/RESULTS.md.

import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { coldStartAndMemory } from './coldstart.js';
import { fanOut } from './fanout.js';
import type { BenchContext, BenchResult } from './lib.js';
import { queryThroughput } from './query.js';
import { webhookIntake } from './webhooks.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
const ctx: BenchContext = { quick, log: (message) => console.log(`  ${message}`) };

type Bench = (ctx: BenchContext) => Promise<Record<string, BenchResult>>;
const BENCHES: Record<string, Bench> = {
  query: async (c) => ({ query_throughput: await queryThroughput(c) }),
  fanout: fanOut,
  webhooks: webhookIntake,
  coldstart: async (c) => {
    const { start, memory } = await coldStartAndMemory(c);
    return { cold_start_ms: start, idle_rss_mb: memory };
  },
};

const results: Record<string, BenchResult> = {};
process.on('exit', (code) => {
  if (code !== 0) console.error(`bench exited with ${code}`);
});
for (const [name, bench] of Object.entries(BENCHES)) {
  if (only && !only.includes(name)) continue;
  const began = Date.now();
  console.log(`${name}${quick ? ' (quick)' : ''}`);
  try {
    Object.assign(results, await bench(ctx));
  } catch (error) {
    // One broken benchmark must not cost the others their figures: recorded as failed.
    console.error(`  ${name} failed:`, error);
    results[name] = { value: 0, baseline: 0, ratio: 0, target: 'ran to the end', pass: false, note: String(error) };
  }
  console.log(`  done in ${((Date.now() - began) / 1000).toFixed(1)} s`);
}

const machine = `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 1024 ** 3).toFixed(1)} GiB, Node ${process.version}`;
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
    `Machine: ${machine}. Mode: ${quick ? 'quick' : 'full'}. Run: ${new Date().toISOString()}.`,
    'Each figure is measured against a baseline in the same run (see bench/README.md).',
    '',
    '| benchmark | value | baseline | ratio | target | result | note |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n'),
);
console.table(results);
