// `npx tsx bench/cpu-webhooks.ts [seconds] [--dir=/dev/shm] [--against=<tree>] [--rounds=3]`: the
// service's CPU time per 100ms webhook delivery on SQLite (read from /proc), under autocannon with
// 10 connections as in bench/webhooks.ts. On a loaded machine deliveries/s say little; CPU per
// delivery says more, and alternating rounds with another checkout (`--against`, a tree with its
// own node_modules and bench/servers/service.ts, e.g. a `git worktree` of an older commit) compare
// two trees under the same load. `--dir`: where the database lives (/dev/shm: no flush cost; a
// disk folder such as /tmp: what the benchmark does, the flush's kernel time counted).
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { cliOptions, cpuMs, hmsDeliveryRequest, hmsIntakeEnv, ROOT, type startChild } from './lib.js';

const options = cliOptions();
const seconds = Number(process.argv.slice(2).find((arg) => !arg.startsWith('--')) ?? 5);
const base = options.get('dir') ?? '/dev/shm';
const rounds = Number(options.get('rounds') ?? (options.has('against') ? 3 : 1));
const trees = [ROOT, ...(options.has('against') ? [resolve(options.get('against') as string)] : [])];

/** User + system CPU time (ms) of a process, its threads included (the flushes on libuv's pool). */
async function measure(tree: string): Promise<string> {
  const lib: { startChild: typeof startChild } = await import(pathToFileURL(join(tree, 'bench', 'lib.ts')).href);
  const dir = mkdtempSync(join(base, 'livestream-cpu-'));
  const service = await lib.startChild('service.ts', hmsIntakeEnv(join(dir, 'cpu.sqlite')));
  try {
    await service.call('seed', { count: 20_000 });
    const pid = service.child.pid as number;
    let n = 0;
    const before = cpuMs(pid);
    const result = await autocannon({
      url: `http://127.0.0.1:${service.port}/webhooks/hms`,
      connections: 10,
      duration: seconds,
      requests: [hmsDeliveryRequest(() => n++)],
    });
    const used = cpuMs(pid) - before;
    const done = result.requests.total;
    return `${Math.round(done / seconds)}/s, ${done} deliveries (non-2xx ${result.non2xx}), CPU ${used} ms: ${Math.round((used * 1000) / done)} µs a delivery`;
  } finally {
    await service.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

for (let round = 1; round <= rounds; round++) {
  for (const tree of trees) console.log(`round ${round} ${tree}: ${await measure(tree)}`);
}
