// `npx tsx bench/profile-callbacks.ts [count] [--against=<tree>] [--rounds=5] [--heartbeat=5000]
// [--window=10000] [--profile] [--top=30] [--bare=64]`: what one change to `count` callback
// subscriptions (default 10,000) costs, as bench/callbacks.ts measures it, per tree (this one,
// then `--against`'s service, alternated `--repeat` times): the service's and the receiver's CPU
// per round (from /proc) and per `next` sent, the time to the last `next`, and the heartbeats the
// receiver got per subscription over `--window` while idle, during the rounds (until one interval
// after the last, with the gaps longer than the heartbeat interval) and right after the rounds (the
// benchmark's window). `--profile`: V8 self time by function over the rounds (µs a `next`).
// `--bare=<sockets>`: the floor, a bare node:http sender in its own process POSTing the same
// number of `next` bodies to the same receiver, `sockets` in flight.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cliOptions, cpuMs, percentile, ROOT, startChild } from './lib.js';
import { type CpuProfile, printProfileTable, selfTimes } from './profile-table.js';

const options = cliOptions();
const count = Number(process.argv.slice(2).find((arg) => !arg.startsWith('--')) ?? 10_000);
const rounds = Number(options.get('rounds') ?? 5);
const repeat = Number(options.get('repeat') ?? 1);
const heartbeatIntervalMs = Number(options.get('heartbeat') ?? 5000);
const windowMs = Number(options.get('window') ?? 10_000);
const profiling = options.has('profile');
/** `--hook=<file>`: another preload answering SIGUSR2 twice (around the idle window), its file printed. */
const hook = options.get('hook');
const top = Number(options.get('top') ?? 30);
const bareSockets = options.has('bare') ? Number(options.get('bare') || 64) : 0;
const trees = [ROOT, ...(options.has('against') ? [resolve(options.get('against') as string)] : [])];
const WATCH = 'subscription($id: ID!) { livestreamChanged(id: $id) { id status vendorStatus version } }';

const median = (values: number[]) => percentile(values, 50);

async function measure(tree: string) {
  const lib: { startChild: typeof startChild } = await import(pathToFileURL(join(tree, 'bench', 'lib.ts')).href);
  const dir = mkdtempSync(join('/tmp', 'livestream-cbprof-'));
  const out = join(dir, 'rounds.cpuprofile');
  const service = await lib.startChild(
    'service.ts',
    {
      DATABASE_URL: join(dir, 'callbacks.sqlite'),
      SANDBOX_STEP_MS: '3600000',
      POLL_INTERVAL_MS: '3600000',
      CPU_PROFILE_OUT: out,
    },
    hook ? ['--import', resolve(hook)] : profiling ? ['--import', join(ROOT, 'bench', 'cpu-profile-hook.mjs')] : [],
  );
  const receiver = await startChild('clients/callback-receiver.ts');
  const servicePid = service.child.pid as number;
  const receiverPid = receiver.child.pid as number;
  try {
    const started = await fetch(`http://127.0.0.1:${service.port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        query:
          'mutation { startLivestream(input: { roomId: "callback-prof" }) { ... on StartLivestreamSuccess { livestream { id } } } }',
      }),
    });
    const id = ((await started.json()) as any).data.startLivestream.livestream.id as string;
    const began = performance.now();
    const registered = await receiver.call<number>('register', {
      url: `http://127.0.0.1:${service.port}/graphql`,
      count,
      query: WATCH,
      variables: { id },
      heartbeatIntervalMs,
    });
    const registration = `${registered} registered in ${((performance.now() - began) / 1000).toFixed(1)} s`;
    // Idle: heartbeats only.
    const idleCpu = cpuMs(servicePid);
    const idleReceiverCpu = cpuMs(receiverPid);
    const idleProfile = options.get('profile') === 'idle';
    if (hook || idleProfile) process.kill(servicePid, 'SIGUSR2');
    const idle = await receiver.call<any>('check-trace', { windowMs, overMs: heartbeatIntervalMs });
    let profile: Map<string, number> | undefined;
    if (idleProfile) {
      process.kill(servicePid, 'SIGUSR2');
      while (!existsSync(out)) await new Promise((r) => setTimeout(r, 50));
      profile = selfTimes(JSON.parse(readFileSync(out, 'utf8')) as CpuProfile);
      rmSync(out);
    }
    if (hook) {
      process.kill(servicePid, 'SIGUSR2');
      while (!existsSync(out)) await new Promise((r) => setTimeout(r, 50));
      console.log(`hook: ${readFileSync(out, 'utf8')}`);
    }
    const idleCost = {
      serviceMsPerCheck: (cpuMs(servicePid) - idleCpu) / idle.checks,
      receiverMsPerCheck: (cpuMs(receiverPid) - idleReceiverCpu) / idle.checks,
    };
    if (profiling && !idleProfile) {
      process.kill(servicePid, 'SIGUSR2');
      await new Promise((r) => setTimeout(r, 200));
    }
    const times: number[] = [];
    const serviceCpu: number[] = [];
    const receiverCpu: number[] = [];
    // The checks while the rounds' `next`s are delivered, until one interval after the last one.
    await receiver.call('trace-begin');
    for (let r = 0; r < rounds; r++) {
      const marker = `prof-${r}-${Date.now()}`;
      await receiver.call('arm', { marker, count });
      const last = receiver.call<number>('last');
      const s0 = cpuMs(servicePid);
      const r0 = cpuMs(receiverPid);
      const startedAt = await service.call<number>('touch', { id, marker });
      const at = await last;
      serviceCpu.push(cpuMs(servicePid) - s0);
      receiverCpu.push(cpuMs(receiverPid) - r0);
      if (at < 0) throw new Error(`not every subscription got ${marker}`);
      times.push(at - startedAt);
    }
    if (profiling && !idleProfile) {
      process.kill(servicePid, 'SIGUSR2');
      while (!existsSync(out)) await new Promise((r) => setTimeout(r, 50));
      profile = selfTimes(JSON.parse(readFileSync(out, 'utf8')) as CpuProfile);
    }
    await new Promise((r) => setTimeout(r, heartbeatIntervalMs));
    const during = await receiver.call<any>('trace-end', { overMs: heartbeatIntervalMs });
    // The benchmark's window: right after the rounds.
    const after = await receiver.call<any>('check-trace', { windowMs, overMs: heartbeatIntervalMs });
    let bare: { times: number[]; senderCpu: number[]; receiverCpu: number[] } | undefined;
    if (bareSockets > 0) {
      const sender = await startChild('bare-callback-sender.ts');
      bare = { times: [], senderCpu: [], receiverCpu: [] };
      try {
        for (let r = 0; r < rounds; r++) {
          const marker = `bare-${r}-${Date.now()}`;
          await receiver.call('arm', { marker, count });
          const last = receiver.call<number>('last');
          const r0 = cpuMs(receiverPid);
          const sent = await sender.call<{ startedAt: number; cpuMs: number }>('send', {
            port: receiver.port,
            count,
            marker,
            sockets: bareSockets,
          });
          const at = await last;
          bare.times.push(at - sent.startedAt);
          bare.senderCpu.push(sent.cpuMs);
          bare.receiverCpu.push(cpuMs(receiverPid) - r0);
        }
      } finally {
        await sender.stop();
      }
    }
    return { registration, idle, idleCost, times, serviceCpu, receiverCpu, during, after, profile, bare };
  } finally {
    await receiver.call('close');
    await receiver.stop();
    await service.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (values: number[]) => `${median(values).toFixed(0)} (${values.map((v) => v.toFixed(0)).join(', ')})`;
const profiles = trees.map(() => new Map<string, number>());
/** What the profile is divided by: the `next`s sent, or with `--profile=idle` the checks received. */
const divisors = trees.map(() => 0);
for (let i = 0; i < repeat; i++) {
  for (const [t, tree] of trees.entries()) {
    const m = await measure(tree);
    console.log(
      `\n== ${basename(tree)} (${count} subscriptions, heartbeat ${heartbeatIntervalMs} ms), ${m.registration}; load ${(
        await import('node:os')
      )
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    console.log(`change -> last next, ms: ${fmt(m.times)}`);
    console.log(
      `service CPU a round, ms: ${fmt(m.serviceCpu)}; µs a next: ${((median(m.serviceCpu) * 1000) / count).toFixed(0)}`,
    );
    console.log(`receiver CPU a round, ms: ${fmt(m.receiverCpu)}`);
    for (const [name, trace] of [
      ['idle', m.idle],
      ['during the rounds', m.during],
      ['after the rounds', m.after],
    ] as const) {
      console.log(
        `checks ${name}: ${trace.checks} in ${trace.windowMs} ms = ${((trace.checks * 1000) / trace.windowMs).toFixed(0)}/s from ${trace.subscriptions} subscriptions; per subscription ${JSON.stringify(trace.perSubscription)}; gaps ${JSON.stringify(trace.gaps)}; under 3 s: ${trace.short}; over the interval: ${trace.over}`,
      );
    }
    console.log(
      `idle: service ${(m.idleCost.serviceMsPerCheck * 1000).toFixed(0)} µs a check, receiver ${(m.idleCost.receiverMsPerCheck * 1000).toFixed(0)} µs`,
    );
    if (m.bare) {
      console.log(
        `bare sender (${bareSockets} in flight): ms ${fmt(m.bare.times)}; sender CPU ${fmt(m.bare.senderCpu)}; receiver CPU ${fmt(m.bare.receiverCpu)}`,
      );
    }
    if (m.profile) for (const [key, value] of m.profile) profiles[t]?.set(key, (profiles[t]?.get(key) ?? 0) + value);
    divisors[t] = (divisors[t] ?? 0) + (options.get('profile') === 'idle' ? m.idle.checks : count * rounds);
  }
}
if (profiling) {
  const perNext = profiles.map((map, t) => new Map([...map].map(([k, v]) => [k, v / (divisors[t] || 1)])));
  printProfileTable(perNext, trees, top, options.get('profile') === 'idle' ? 'check' : 'next');
}
