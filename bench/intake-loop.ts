// `npx tsx bench/intake-loop.ts [deliveries] [--against=<tree>] [--rounds=3] [--dir=/dev/shm]
// [--concurrency=10] [--seed=<streams>] [--profile=<file>]`: the CPU time per 100ms webhook delivery of the intake alone, in this process
// (no HTTP, no load generator sharing the cores): `WebhookIntake.handle` of each tree's `buildApp`
// on SQLite, `concurrency` deliveries in flight (closed loop, as autocannon's connections), the
// same deliveries as bench/lib.ts `hmsDeliveryRequest` on seeded streams, after a warm-up. With
// `--against`, each round runs every tree in turn (order rotated), each in a fresh child process.
// CPU time (process.cpuUsage, every thread) a delivery is the figure that holds on a loaded machine.
// `--profile`: a V8 CPU profile of the measured deliveries only (seeding and warm-up left out),
// written to `<file>.<round>.<tree's folder name>.cpuprofile`.
// Counting instructions of the measured deliveries only: bench/callgrind-intake.sh runs the child
// alone under valgrind with INTAKE_LOOP_PAUSE=<path>; it then writes <path>.warm after the warm-up
// and waits for <path>.go, and writes <path>.measured after the measured deliveries and waits for
// <path>.exit (the script turns callgrind's counting on and off in between).
import { fork } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cliOptions, hmsIntakeEnv, ROOT } from './lib.js';
import { HMS_DELIVERY_HEADERS, hmsStartedBody, webhookStreams } from './seed-rows.js';

const options = cliOptions();
const deliveries = Number(process.argv.slice(2).find((arg) => !arg.startsWith('--')) ?? 20_000);
const warmUp = 4000;
const concurrency = Number(options.get('concurrency') ?? 10);
/** Streams seeded (the benchmark seeds 101,000): at least one a delivery. */
const seeded = Number(options.get('seed') ?? 0);
const base = options.get('dir') ?? '/dev/shm';

interface Outcome {
  cpuUs: number;
  wallMs: number;
}

if (process.env.INTAKE_LOOP_TREE) {
  // The child: one tree's app, measured.
  const tree = process.env.INTAKE_LOOP_TREE;
  const dir = mkdtempSync(join(base, 'livestream-loop-'));
  const load = (path: string) => import(pathToFileURL(join(tree, path)).href);
  const { buildApp } = await load('src/app.ts');
  const { loadConfig } = await load('src/config.ts');
  const { createLogger } = await load('src/logger.ts');
  const config = loadConfig({ ...hmsIntakeEnv(join(dir, 'loop.sqlite')), PORT: '0', LOG_LEVEL: 'silent' });
  const app = await buildApp(config, createLogger('silent'));
  const store = app.services.store;
  const total = Math.max(seeded, warmUp + deliveries);
  await store.transaction(async () => {
    for (const row of webhookStreams(total)) await store.streams.insert('livestream', row);
  });
  const headers = HMS_DELIVERY_HEADERS;
  const body = (i: number) => Buffer.from(hmsStartedBody(i));
  const run = async (from: number, count: number) => {
    let next = from;
    const end = from + count;
    const worker = async () => {
      while (next < end) {
        const i = next++;
        const answer = await app.webhooks.handle('HMS', body(i), headers);
        if (answer.status !== 200 || answer.body.pending) throw new Error(`delivery ${i}: ${JSON.stringify(answer)}`);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  };
  /** Writes `<pause>.<step>` and waits for `<pause>.<then>` (INTAKE_LOOP_PAUSE, above). */
  const pause = async (step: string, then: string) => {
    const path = process.env.INTAKE_LOOP_PAUSE;
    if (!path) return;
    writeFileSync(`${path}.${step}`, '');
    while (!existsSync(`${path}.${then}`)) await new Promise((resolve) => setTimeout(resolve, 100));
  };
  await run(0, warmUp);
  await pause('warm', 'go');
  const profile = process.env.INTAKE_LOOP_PROFILE;
  const profiler = profile ? new Session() : undefined;
  if (profiler) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.setSamplingInterval', { interval: 100 });
    await profiler.post('Profiler.start');
  }
  const before = process.cpuUsage();
  const began = performance.now();
  await run(warmUp, deliveries);
  const used = process.cpuUsage(before);
  const wallMs = performance.now() - began;
  await pause('measured', 'exit');
  if (profiler && profile) {
    const { profile: written } = await profiler.post('Profiler.stop');
    writeFileSync(profile, JSON.stringify(written));
    profiler.disconnect();
  }
  const outcome: Outcome = { cpuUs: (used.user + used.system) / deliveries, wallMs };
  process.send?.(outcome);
  await app.stop();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
} else {
  const rounds = Number(options.get('rounds') ?? 3);
  const trees = [ROOT, ...(options.has('against') ? [resolve(options.get('against') as string)] : [])];
  const results = new Map<string, number[]>(trees.map((tree) => [tree, []]));
  for (let round = 0; round < rounds; round++) {
    const order = trees.map((_, i) => trees[(i + round) % trees.length] as string);
    for (const tree of order) {
      const child = fork(import.meta.filename, process.argv.slice(2), {
        cwd: tree,
        env: {
          ...process.env,
          INTAKE_LOOP_TREE: tree,
          ...(options.get('profile')
            ? {
                INTAKE_LOOP_PROFILE: `${options.get('profile')}.${round + 1}.${tree.split('/').filter(Boolean).pop()}.cpuprofile`,
              }
            : {}),
        },
        execArgv: ['--import', 'tsx'],
      });
      const outcome = await new Promise<Outcome>((done, fail) => {
        child.once('message', (message) => done(message as Outcome));
        child.once('exit', (code) => code && fail(new Error(`child exited ${code}`)));
      });
      results.get(tree)?.push(outcome.cpuUs);
      console.log(
        `round ${round + 1} ${tree}: ${outcome.cpuUs.toFixed(1)} µs CPU a delivery, ` +
          `${((deliveries / outcome.wallMs) * 1000).toFixed(0)}/s`,
      );
    }
  }
  for (const [tree, values] of results) {
    const sorted = [...values].sort((a, b) => a - b);
    console.log(
      `${tree}: median ${sorted[Math.floor(sorted.length / 2)]?.toFixed(1)} µs (${sorted.map((v) => v.toFixed(1)).join(', ')})`,
    );
  }
}
