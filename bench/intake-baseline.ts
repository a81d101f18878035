// `npx tsx bench/intake-baseline.ts [--against=<tree>] [--runs=3] [--harness=main|efa] [--settle]`:
// the SQLite intake benchmark's throughput part (bench/webhooks.ts), with the service started from
// this tree and, alternated run by run, from another (`--against`, its own node_modules and
// bench/servers/service.ts, e.g. a worktree of efa62df), both under ONE harness; the raw inserts
// (servers/bare-sqlite.ts) and the bare HTTP server always from this tree. `--harness=efa` runs the
// rounds as efa62df's benchmark did (no bare HTTP server: raw inserts right after the service's
// round), `main` as bench/webhooks.ts does. During each raw-inserts round it samples what else the
// machine does: the service's CPU and write_bytes (/proc/<pid>/io), its -wal file's size, the
// kernel's Dirty and Writeback memory, the disk's writes (/proc/diskstats). `--settle`: before each
// raw-inserts round, wait until the service's process has been quiet (no CPU, no writes) for 500 ms.
// Written for issue 11's open question (bench/README.md, "SQLite intake against efa62df: why the
// baselines differed").
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ChildServer, cliOptions, cpuMs, percentile, ROOT, startChild, tempDir } from './lib.js';
import { deliveryRounds, envelope, HEADER, SECRET } from './webhooks.js';

const STREAMS = 100_000;
const SECONDS = 4;
const ROUNDS = 4;

const options = cliOptions();
const runs = Number(options.get('runs') ?? 3);
const harness = options.get('harness') === 'efa' ? 'efa' : 'main';
const settle = options.has('settle');
const trees = [ROOT, ...(options.has('against') ? [resolve(options.get('against') as string)] : [])];

/** A snapshot of what the service process and the machine's disk have done so far. */
interface Snapshot {
  serviceCpu: number;
  /** Times the service's threads were scheduled in (/proc/<pid>/task/<tid>/schedstat, summed). */
  serviceRuns: number;
  ceilingCpu: number;
  /** This (the harness's) process: autocannon's garbage from the round before, say. */
  parentCpu: number;
  serviceWrites: number;
  bareCpu: number;
  diskWrites: number;
  diskSectors: number;
  diskMs: number;
}

function writeBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/io`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('write_bytes:'));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

function disk(): { writes: number; sectors: number; ms: number } {
  for (const line of readFileSync('/proc/diskstats', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[2] === 'vda') return { writes: Number(f[7]), sectors: Number(f[9]), ms: Number(f[10]) };
  }
  return { writes: 0, sectors: 0, ms: 0 };
}

function memKb(name: string): number {
  const line = readFileSync('/proc/meminfo', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

function scheduled(pid: number): number {
  let n = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    n += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[2] ?? 0);
  }
  return n;
}

function snapshot(service: number, bare: number, ceiling: number | undefined): Snapshot {
  const d = disk();
  const own = process.cpuUsage();
  return {
    serviceCpu: cpuMs(service),
    serviceRuns: scheduled(service),
    ceilingCpu: ceiling ? cpuMs(ceiling) : 0,
    parentCpu: (own.user + own.system) / 1000,
    serviceWrites: writeBytes(service),
    bareCpu: cpuMs(bare),
    diskWrites: d.writes,
    diskSectors: d.sectors,
    diskMs: d.ms,
  };
}

function size(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** Waits until the service used no CPU and wrote nothing for `quietMs` (at most 10 s). */
async function quiet(pid: number, quietMs = 500): Promise<number> {
  const began = performance.now();
  let last = `${cpuMs(pid)}:${writeBytes(pid)}`;
  let since = performance.now();
  while (performance.now() - since < quietMs && performance.now() - began < 10_000) {
    await new Promise((r) => setTimeout(r, 50));
    const now = `${cpuMs(pid)}:${writeBytes(pid)}`;
    if (now !== last) {
      last = now;
      since = performance.now();
    }
  }
  return performance.now() - began;
}

async function once(tree: string): Promise<string[]> {
  const lib: { startChild: typeof startChild } = await import(pathToFileURL(join(tree, 'bench', 'lib.ts')).href);
  const dir = tempDir();
  const database = join(dir, 'webhooks.sqlite');
  const [bare, service] = await Promise.all([
    startChild('bare-sqlite.ts', { BENCH_DIR: dir }),
    lib.startChild('service.ts', {
      DATABASE_URL: database,
      SANDBOX_STEP_MS: '3600000',
      POLL_INTERVAL_MS: '3600000',
      HMS_ACCESS_KEY: 'bench-access-key',
      HMS_APP_SECRET: 'bench-app-secret',
      HMS_WEBHOOK_HEADER: HEADER,
      HMS_WEBHOOK_SECRET: SECRET,
      BENCH_RETENTION: 'off',
    }),
  ]);
  let ceiling: ChildServer | undefined;
  const lines: string[] = [];
  try {
    await service.call('seed', { count: STREAMS + 1000 });
    const url = `http://127.0.0.1:${service.port}/webhooks/hms`;
    if (harness === 'main') {
      ceiling = await startChild('bare-webhook.ts', { HMS_WEBHOOK_HEADER: HEADER, HMS_WEBHOOK_SECRET: SECRET });
    }
    const ceilingUrl = ceiling ? `http://127.0.0.1:${ceiling.port}/webhooks/hms` : '';
    const run = deliveryRounds(url, STREAMS);
    await run(1);
    if (ceiling) await run(1, ceilingUrl);
    await bare.call('inserts', { seconds: 1, payload: envelope('warm-up', 0) });
    const servicePid = service.child.pid as number;
    const barePid = bare.child.pid as number;
    const rates: number[] = [];
    const bareRates: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const waited = settle ? await quiet(servicePid) : 0;
      const wal = size(`${database}-wal`);
      const before = snapshot(servicePid, barePid, ceiling?.child.pid);
      let maxDirty = memKb('Dirty');
      let maxWriteback = memKb('Writeback');
      const sampler = setInterval(() => {
        maxDirty = Math.max(maxDirty, memKb('Dirty'));
        maxWriteback = Math.max(maxWriteback, memKb('Writeback'));
      }, 50);
      const bareRate = await bare.call<number>('inserts', { seconds: SECONDS, payload: envelope('bare', 0) });
      clearInterval(sampler);
      const after = snapshot(servicePid, barePid, ceiling?.child.pid);
      bareRates.push(bareRate);
      const cpuBefore = cpuMs(servicePid);
      const result = await run(SECONDS);
      const cpuPerDelivery = ((cpuMs(servicePid) - cpuBefore) * 1000) / result.requests.total;
      const walAfter = size(`${database}-wal`);
      const bareHttp = ceiling ? await run(SECONDS, ceilingUrl) : undefined;
      if (result.errors || result.non2xx) throw new Error(`${result.errors} errors, ${result.non2xx} non-2xx`);
      rates.push(result.requests.average);
      lines.push(
        `  round ${round + 1}: raw ${bareRate.toFixed(0)}/s${settle ? ` (after ${waited.toFixed(0)} ms quiet wait)` : ''}; ` +
          `during it: service CPU ${after.serviceCpu - before.serviceCpu} ms (${after.serviceRuns - before.serviceRuns} wake-ups), ` +
          `harness CPU ${(after.parentCpu - before.parentCpu).toFixed(0)} ms, bare HTTP server CPU ${after.ceilingCpu - before.ceilingCpu} ms, ` +
          `service write_bytes ${((after.serviceWrites - before.serviceWrites) / 1024).toFixed(0)} KB, ` +
          `bare CPU ${after.bareCpu - before.bareCpu} ms, disk ${after.diskWrites - before.diskWrites} writes ` +
          `${((after.diskSectors - before.diskSectors) / 2048).toFixed(1)} MB ${after.diskMs - before.diskMs} ms busy, ` +
          `Dirty max ${maxDirty} kB, Writeback max ${maxWriteback} kB, service wal ${(wal / 1024).toFixed(0)} KB; ` +
          `then service ${result.requests.average.toFixed(0)}/s, ${cpuPerDelivery.toFixed(0)} µs CPU a delivery (wal after ${(walAfter / 1024).toFixed(0)} KB)` +
          (bareHttp ? `, bare HTTP ${bareHttp.requests.average.toFixed(0)}/s` : ''),
      );
    }
    const ours = percentile(rates, 50);
    const raw = percentile(bareRates, 50);
    lines.unshift(
      `${tree} (${harness} harness${settle ? ', settled' : ''}): ${ours.toFixed(0)} / ${raw.toFixed(0)} = ${(ours / raw).toFixed(2)}× ` +
        `(service ${rates.map((r) => r.toFixed(0)).join(', ')}; raw ${bareRates.map((r) => r.toFixed(0)).join(', ')})`,
    );
  } finally {
    await ceiling?.stop();
    await service.stop();
    await bare.stop();
  }
  return lines;
}

for (let r = 1; r <= runs; r++) {
  // The order rotates run by run, so neither tree always goes first.
  const order = r % 2 === 1 ? trees : [...trees].reverse();
  for (const tree of order) {
    const lines = await once(tree);
    console.log(
      `run ${r} ${new Date().toISOString().slice(11, 19)} load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
    );
    for (const line of lines) console.log(line);
  }
}
