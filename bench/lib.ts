import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createTestDatabase, type TestDatabase } from '../test/support/postgres.js';
import { HMS_DELIVERY_HEADERS, hmsStartedBody } from './seed-rows.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface BenchResult {
  value: number;
  baseline: number;
  ratio: number;
  target: string;
  pass: boolean;
  unit?: string;
  note?: string;
}

export interface BenchContext {
  quick: boolean;
  log: (message: string) => void;
}

/**
 * `BENCH_TIMELINE=1`: prints each child's start, ready and exit and each phase a benchmark marks,
 * with the time since the run began (where a quick run's wall time goes, bench/README.md).
 */
const timelineBegan = performance.now();
export function timeline(event: string): void {
  if (!process.env.BENCH_TIMELINE) return;
  console.log(`    [${((performance.now() - timelineBegan) / 1000).toFixed(2)} s] ${event}`);
}

export function tempDir(prefix = 'livestream-bench-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface ChildServer {
  child: ChildProcess;
  port: number;
  /** Asks the child to collect garbage and report its memory. */
  memory(): Promise<NodeJS.MemoryUsage>;
  /** Sends a command to the child and waits for its answer. */
  call<T = unknown>(command: string, args?: unknown): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Starts two children at once (each as `startChild`); if one fails to start, the other is stopped
 * before the error is thrown, so none is left running.
 */
export async function startBoth(
  first: Promise<ChildServer>,
  second: Promise<ChildServer>,
): Promise<[ChildServer, ChildServer]> {
  const [a, b] = await Promise.allSettled([first, second]);
  if (a.status === 'fulfilled' && b.status === 'fulfilled') return [a.value, b.value];
  if (a.status === 'fulfilled') await a.value.stop();
  if (b.status === 'fulfilled') await b.value.stop();
  throw a.status === 'rejected' ? a.reason : (b as PromiseRejectedResult).reason;
}

/**
 * Awaits every promise (children being started, say); if one rejects, releases what the others
 * gave (stops them, so none is left running) and throws its error.
 */
export async function allOrRelease<T>(promises: Promise<T>[], release: (value: T) => Promise<void>): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (!failed) return settled.map((result) => (result as PromiseFulfilledResult<T>).value);
  await Promise.all(settled.map((result) => (result.status === 'fulfilled' ? release(result.value) : undefined)));
  throw failed.reason;
}

/**
 * Sets up one thing per item into `into` (whose owner releases them, even when this throws): side
 * by side when `sideBySide` (quick mode's setup, which is not measured), else one after the other.
 */
export async function setUpEach<T, R>(
  sideBySide: boolean,
  items: T[],
  step: (item: T) => Promise<R>,
  into: R[],
): Promise<void> {
  if (!sideBySide) {
    for (const item of items) into.push(await step(item));
    return;
  }
  const settled = await Promise.allSettled(items.map(step));
  for (const result of settled) if (result.status === 'fulfilled') into.push(result.value);
  const failed = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Quick mode drops the benchmarks' PostgreSQL databases together at the end of the run, not each
 * as its benchmark ends: a DROP DATABASE waits for a checkpoint of the whole cluster, and five of
 * them one after the other took 5.4–8.5 s at load 10 against 1.2–1.5 s together (bench/README.md,
 * "Quick mode, 2026-12-06 session"). Nothing is connected to them meanwhile (their services stopped).
 */
let deferredDrops: (() => Promise<void>)[] | undefined;

/** From now on a database from `benchDatabase` is dropped by `dropDeferredDatabases` (quick mode). */
export function deferDatabaseDrops(): void {
  deferredDrops ??= [];
}

/** A fresh PostgreSQL database for a benchmark (`createTestDatabase`); see `deferDatabaseDrops`. */
export async function benchDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase();
  const drops = deferredDrops;
  if (!drops) return database;
  return {
    ...database,
    drop: async () => {
      drops.push(database.drop);
    },
  };
}

/** Drops every database whose drop was deferred, side by side. */
export async function dropDeferredDatabases(): Promise<void> {
  const drops = deferredDrops?.splice(0) ?? [];
  const settled = await Promise.allSettled(drops.map((drop) => drop()));
  const failed = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Where a script under bench/ was bundled (quick mode, bench/bundle.ts); unset, children run through tsx. */
let bundled: ((script: string) => string) | undefined;

/** From now on `startChild` starts the bundled scripts (quick mode). */
export function startChildrenFrom(bundle: (script: string) => string): void {
  bundled = bundle;
}

/** Every child `startChild` started that has not exited yet (`stopEveryChild`). */
const running = new Set<ChildServer>();

/**
 * Stops every child still running: the end of a quick run, for the pooled client processes and
 * any child a failed benchmark left behind (a child's IPC channel would keep the run from exiting).
 */
export async function stopEveryChild(): Promise<void> {
  await Promise.all([...running].map((child) => child.stop()));
}

/**
 * A child a benchmark needs later: started now when `ahead` (quick mode: setup side by side, it
 * waits idle for its turn), else when its turn comes. Answers how to get it then. If the benchmark
 * fails before, `stopEveryChild` stops it.
 */
export function startAhead<T>(ahead: boolean, start: () => Promise<T>): () => Promise<T> {
  if (!ahead) return start;
  const started = start();
  // Its error, if any, is thrown where it is awaited.
  started.catch(() => undefined);
  return () => started;
}

/**
 * Starts a server script (`bench/servers/<name>.ts`) in its own process, so the load generator
 * and the server under test never share an event loop. The script answers IPC commands.
 */
export async function startChild(
  script: string,
  env: Record<string, string> = {},
  execArgv: string[] = [],
): Promise<ChildServer> {
  const path = script.includes('/') ? script : `servers/${script}`;
  const began = performance.now();
  const child = fork(bundled ? bundled(path) : join(ROOT, 'bench', path), [], {
    execArgv: [...(bundled ? [] : ['--import', 'tsx']), '--expose-gc', '--max-old-space-size=4096', ...execArgv],
    env: { ...process.env, LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let sequence = 0;
  const pending = new Map<number, (value: unknown) => void>();
  const ready = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    child.on('message', (message: { type: string; port?: number; id?: number; result?: unknown }) => {
      if (message.type === 'ready' && message.port) resolve(message.port);
      if (message.type === 'result' && message.id !== undefined) {
        pending.get(message.id)?.(message.result);
        pending.delete(message.id);
      }
    });
  });
  const port = await ready;
  timeline(`${path} ready in ${(performance.now() - began).toFixed(0)} ms (pid ${child.pid})`);
  const call = <T>(command: string, args?: unknown) =>
    new Promise<T>((resolve) => {
      const id = sequence++;
      pending.set(id, resolve as (value: unknown) => void);
      child.send({ type: 'call', id, command, args });
    });
  const server: ChildServer = {
    child,
    port,
    call,
    memory: () => call<NodeJS.MemoryUsage>('memory'),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const stopping = performance.now();
        child.once('exit', () => {
          timeline(`${path} (pid ${child.pid}) exited in ${(performance.now() - stopping).toFixed(0)} ms`);
          resolve();
        });
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
  running.add(server);
  child.once('exit', () => running.delete(server));
  return server;
}

/** Runs autocannon and answers requests per second (mean). */
export async function requestsPerSecond(
  options: autocannon.Options,
): Promise<{ rps: number; errors: number; non2xx: number }> {
  const result = await autocannon({ connections: 50, pipelining: 1, ...options });
  return { rps: result.requests.average, errors: result.errors, non2xx: result.non2xx };
}

export function ratioResult(
  value: number,
  baseline: number,
  target: { atLeast?: number; atMost?: number },
  extra: Partial<BenchResult> = {},
): BenchResult {
  const ratio = baseline === 0 ? 0 : value / baseline;
  const pass =
    (target.atLeast === undefined || ratio >= target.atLeast) &&
    (target.atMost === undefined || ratio <= target.atMost);
  const text = target.atLeast !== undefined ? `>= ${target.atLeast}x` : `<= ${target.atMost}x`;
  return { value: round(value), baseline: round(baseline), ratio: round(ratio, 3), target: text, pass, ...extra };
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? 0;
}

/**
 * The environment of a quiet service (no sandbox steps, no polling) on `databaseUrl` taking the
 * 100ms deliveries `hmsDeliveryRequest` makes (the same secret): the CPU and profiling tools' service.
 */
export function hmsIntakeEnv(databaseUrl: string): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    SANDBOX_STEP_MS: '3600000',
    POLL_INTERVAL_MS: '3600000',
    HMS_ACCESS_KEY: 'k',
    HMS_APP_SECRET: 's',
    HMS_WEBHOOK_SECRET: 'secret',
  };
}

/**
 * autocannon's request for the profiling tools' 100ms webhook deliveries (`hls.started.success`),
 * the one the sandbox-free bench service accepts with secret `secret`: delivery `<prefix>-<i>` for
 * stream `wh-ext-<i>` (seeded by the service's `seed`), `i` from `next()`.
 */
export function hmsDeliveryRequest(next: () => number, prefix = 'c'): autocannon.Request {
  return {
    method: 'POST',
    headers: HMS_DELIVERY_HEADERS,
    setupRequest: (request) => {
      const body = hmsStartedBody(next(), prefix);
      return { ...request, body };
    },
  };
}

/** A process's CPU time so far (user + system), in ms, from /proc (USER_HZ is 100 on Linux). */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The `--name=value` options of a bench tool's command line (`--flag` alone answers ''). */
export function cliOptions(): Map<string, string> {
  return new Map(
    process.argv
      .slice(2)
      .filter((arg) => arg.startsWith('--'))
      .map((arg) => [arg.slice(2).split('=')[0] ?? '', arg.split('=')[1] ?? ''] as const),
  );
}
