// `npx tsx bench/baseline-neighbours.ts [--against=<tree>] [--cycles=12] [--seconds=1] [--after=0]`: does the
// service beside the raw inserts (servers/bare-sqlite.ts) slow them, as in bench/webhooks.ts where
// both stay up and their rounds alternate? One raw-inserts process and a seeded service from this
// tree and from `--against` (e.g. a worktree of efa62df), all up at once; short raw-insert rounds
// in rotation under conditions set with SIGSTOP/SIGCONT (a stopped process runs nothing, timers
// included): no service running, only one tree's service running idle, or one tree's service
// right after a round of its deliveries (what it leaves to do afterwards; `--after=0` leaves those out). Rotating short rounds
// spreads the machine's drift over every condition alike. Prints each condition's median and
// quartiles of raw inserts/s, and what the running service did meanwhile (CPU, wake-ups).
// Written for issue 11's open question (bench/README.md, "SQLite intake against efa62df: why the
// baselines differed").
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import {
  type ChildServer,
  cliOptions,
  cpuMs,
  hmsDeliveryRequest,
  percentile,
  ROOT,
  startChild,
  tempDir,
} from './lib.js';

const options = cliOptions();
const cycles = Number(options.get('cycles') ?? 12);
const seconds = Number(options.get('seconds') ?? 1);
const trees = [ROOT, ...(options.has('against') ? [resolve(options.get('against') as string)] : [])];
const STREAMS = 100_000;

function scheduled(pid: number): number {
  let n = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    n += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[2] ?? 0);
  }
  return n;
}

interface Service {
  name: string;
  server: ChildServer;
  pid: number;
  next: number;
}

const dir = tempDir();
const bare = await startChild('bare-sqlite.ts', { BENCH_DIR: dir });
const services: Service[] = [];
try {
  for (const [i, tree] of trees.entries()) {
    const lib: { startChild: typeof startChild } = await import(pathToFileURL(join(tree, 'bench', 'lib.ts')).href);
    const server = await lib.startChild('service.ts', {
      DATABASE_URL: join(dir, `service-${i}.sqlite`),
      SANDBOX_STEP_MS: '3600000',
      POLL_INTERVAL_MS: '3600000',
      HMS_ACCESS_KEY: 'k',
      HMS_APP_SECRET: 's',
      HMS_WEBHOOK_SECRET: 'secret',
      BENCH_RETENTION: 'off',
    });
    services.push({ name: i === 0 ? 'this tree' : tree, server, pid: server.child.pid as number, next: 0 });
    await server.call('seed', { count: STREAMS });
  }
  const deliver = async (service: Service, duration: number) => {
    const result = await autocannon({
      url: `http://127.0.0.1:${service.server.port}/webhooks/hms`,
      connections: 10,
      duration,
      requests: [hmsDeliveryRequest(() => service.next++ % STREAMS, `d${service.pid}`)],
    });
    if (result.errors || result.non2xx) throw new Error(`${result.errors} errors, ${result.non2xx} non-2xx`);
    return result.requests.average;
  };
  for (const service of services) await deliver(service, 1);
  await bare.call('inserts', { seconds: 1, payload: 'warm-up' });
  const payload = JSON.stringify({ id: 'bare', data: { room_id: 'wh-room-0', stream_id: 'wh-ext-0' } });

  const conditions: { name: string; running: Service | null; after: boolean }[] = [
    { name: 'no service running', running: null, after: false },
    ...services.flatMap((s) => [
      { name: `${s.name}, idle`, running: s, after: false },
      ...(options.get('after') === '0'
        ? []
        : [{ name: `${s.name}, right after its deliveries`, running: s, after: true }]),
    ]),
  ];
  const rates = new Map<string, number[]>(conditions.map((c) => [c.name, []]));
  const activity = new Map<string, { cpu: number; wakeUps: number }>(
    conditions.map((c) => [c.name, { cpu: 0, wakeUps: 0 }]),
  );
  for (let cycle = 0; cycle < cycles; cycle++) {
    // The order rotates cycle by cycle.
    const order = conditions.map((_, i) => conditions[(i + cycle) % conditions.length] as (typeof conditions)[number]);
    for (const condition of order) {
      for (const s of services) process.kill(s.pid, s === condition.running ? 'SIGCONT' : 'SIGSTOP');
      if (condition.after && condition.running) await deliver(condition.running, seconds);
      const pid = condition.running?.pid;
      const before = pid ? { cpu: cpuMs(pid), wakeUps: scheduled(pid) } : null;
      rates.get(condition.name)?.push(await bare.call<number>('inserts', { seconds, payload }));
      if (pid && before) {
        const seen = activity.get(condition.name) as { cpu: number; wakeUps: number };
        seen.cpu += cpuMs(pid) - before.cpu;
        seen.wakeUps += scheduled(pid) - before.wakeUps;
      }
    }
  }
  console.log(
    `${cycles} cycles of ${seconds}-s raw-insert rounds, load ${readFileSync('/proc/loadavg', 'utf8').slice(0, 15)}`,
  );
  for (const condition of conditions) {
    const r = rates.get(condition.name) as number[];
    const seen = activity.get(condition.name) as { cpu: number; wakeUps: number };
    console.log(
      `${condition.name}: raw inserts median ${percentile(r, 50).toFixed(0)}/s (quartiles ${percentile(r, 25).toFixed(0)}–${percentile(r, 75).toFixed(0)}); ` +
        `service during the rounds: ${((seen.cpu / (cycles * seconds)) * 1).toFixed(1)} ms CPU and ${(seen.wakeUps / (cycles * seconds)).toFixed(0)} wake-ups a second`,
    );
  }
} finally {
  for (const s of services) {
    process.kill(s.pid, 'SIGCONT');
    await s.server.stop();
  }
  await bare.stop();
}
