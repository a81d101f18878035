// `npx tsx bench/profile-cpu-webhooks.ts [deliveries] [--against=<tree>] [--rounds=1] [--top=40]`:
// a V8 CPU profile of the service over a fixed number of 100ms webhook deliveries on SQLite on
// tmpfs (/dev/shm: no flush cost), autocannon with 10 connections as in bench/webhooks.ts, after a
// warm-up; with `--against`, the same for another tree (its own bench/servers/service.ts, unchanged:
// the profiler is preloaded from bench/cpu-profile-hook.mjs). Prints the service's CPU per delivery
// from /proc and self time per delivery by function (µs), side by side, so two trees compare at an
// equal amount of work.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { cliOptions, cpuMs, hmsDeliveryRequest, hmsIntakeEnv, ROOT, type startChild } from './lib.js';
import { type CpuProfile, printProfileTable, selfTimes } from './profile-table.js';

const options = cliOptions();
const deliveries = Number(process.argv.slice(2).find((arg) => !arg.startsWith('--')) ?? 20_000);
const warmUp = 3000;
const rounds = Number(options.get('rounds') ?? 1);
const top = Number(options.get('top') ?? 40);
/** `--by=file`: self time by source file (src/, node:), package, or native function. */
const byFile = options.get('by') === 'file';
const trees = [ROOT, ...(options.has('against') ? [resolve(options.get('against') as string)] : [])];
/** `--hook=<file>`: another preload answering SIGUSR2 the same way (e.g. counting async resources). */
const hook = options.get('hook') || join(ROOT, 'bench', 'cpu-profile-hook.mjs');

function send(port: number, from: number, amount: number) {
  let n = from;
  return autocannon({
    url: `http://127.0.0.1:${port}/webhooks/hms`,
    connections: 10,
    amount,
    requests: [hmsDeliveryRequest(() => n++)],
  });
}

async function measure(tree: string): Promise<{ line: string; times: Map<string, number>; done: number }> {
  const lib: { startChild: typeof startChild } = await import(pathToFileURL(join(tree, 'bench', 'lib.ts')).href);
  const dir = mkdtempSync(join('/dev/shm', 'livestream-prof-'));
  const out = join(dir, 'profile.cpuprofile');
  const service = await lib.startChild(
    'service.ts',
    { ...hmsIntakeEnv(join(dir, 'cpu.sqlite')), CPU_PROFILE_OUT: out },
    ['--import', hook],
  );
  try {
    await service.call('seed', { count: warmUp + deliveries });
    await send(service.port, 0, warmUp);
    const pid = service.child.pid as number;
    process.kill(pid, 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 200));
    const before = cpuMs(pid);
    const result = await send(service.port, warmUp, deliveries);
    const used = cpuMs(pid) - before;
    process.kill(pid, 'SIGUSR2');
    while (!existsSync(out)) await new Promise((r) => setTimeout(r, 50));
    const times = selfTimes(JSON.parse(readFileSync(out, 'utf8')) as CpuProfile, byFile);
    const done = result.requests.total;
    const line = `${done} deliveries (non-2xx ${result.non2xx}) in ${result.duration.toFixed(1)} s, CPU ${used} ms: ${Math.round((used * 1000) / done)} µs a delivery`;
    return { line, times, done };
  } finally {
    await service.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const totals = trees.map(() => new Map<string, number>());
const counts = trees.map(() => 0);
for (let round = 1; round <= rounds; round++) {
  for (const [t, tree] of trees.entries()) {
    const { line, times, done } = await measure(tree);
    console.log(`round ${round} ${tree}: ${line}`);
    counts[t] = (counts[t] ?? 0) + done;
    for (const [key, value] of times) totals[t]?.set(key, (totals[t]?.get(key) ?? 0) + value);
  }
}
const perDelivery = totals.map((map, t) => new Map([...map].map(([key, value]) => [key, value / (counts[t] ?? 1)])));
printProfileTable(perDelivery, trees, top, 'delivery');
