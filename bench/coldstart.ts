import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type BenchContext, type BenchResult, ROOT, round, tempDir } from './lib.js';

interface Start {
  readyMs: number;
  /** CPU time (user + system, all threads) the process had used when it was ready. */
  cpuMs: number;
  /** NaN when not measured (quick mode measures it on its first start only). */
  rssMb: number;
}

/**
 * Spawns a process and times it until `url` answers 200, then (if `rss`) reads its resident memory
 * 1 s later; `meanwhile` runs in that second (and is awaited before the process is stopped).
 */
async function coldStart(
  command: string,
  args: string[],
  env: Record<string, string>,
  path: string,
  rss = true,
  meanwhile?: () => Promise<unknown>,
): Promise<Start> {
  const began = performance.now();
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'ignore' });
  try {
    const port = Number(env.PORT);
    let readyMs = 0;
    for (let i = 0; i < 1000; i++) {
      if (child.exitCode !== null)
        throw new Error(`${args.join(' ')} exited with ${child.exitCode} before it was ready`);
      try {
        const response = await fetch(`http://127.0.0.1:${port}${path}`);
        if (response.status === 200) {
          readyMs = performance.now() - began;
          break;
        }
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    if (!readyMs) throw new Error(`${args.join(' ')} never became ready`);
    // Less sensitive than wall time to the other processes of a shared machine (USER_HZ = 100).
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const cpuMs = (Number(stat[11]) + Number(stat[12])) * 10;
    if (!rss) return { readyMs, cpuMs, rssMb: Number.NaN };
    // Its error held until the read is done (unhandled meanwhile, it would end the process).
    const beside = meanwhile?.().then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const rssKb = Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
    const failed = await beside;
    if (failed) throw failed.error;
    return { readyMs, cpuMs, rssMb: rssKb / 1024 };
  } finally {
    // A child that has already exited (it could not listen, say) never emits `exit` again.
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }
}

/** A port free right now (after a run with 40,000 sockets, a fixed one may well be taken). */
function freePort(): Promise<string> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(String(port)));
    });
  });
}

/** True when dist/main.js was built after every file of src/, the TypeScript configuration and the build script changed. */
function builtIsFresh(): boolean {
  const built = join(ROOT, 'dist', 'main.js');
  if (!existsSync(built)) return false;
  const builtAt = statSync(built).mtimeMs;
  const sources = readdirSync(join(ROOT, 'src'), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
  return [...sources, join(ROOT, 'tsconfig.json'), join(ROOT, 'scripts', 'build.mjs')].every(
    (file) => !existsSync(file) || statSync(file).mtimeMs < builtAt,
  );
}

/** Cold start to /readyz and idle memory, against a bare Node HTTP server started the same way. */
export async function coldStartAndMemory(ctx: BenchContext): Promise<{ start: BenchResult; memory: BenchResult }> {
  // An odd number, so the median is one of the runs.
  const runs = ctx.quick ? 3 : 5;
  if (ctx.quick && builtIsFresh()) ctx.log('cold start: dist/ is newer than every source file, not rebuilt');
  else execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  const ours: Start[] = [];
  const bare: Start[] = [];
  const bareScript =
    "require('node:http').createServer((q,s)=>s.end('ok')).listen(Number(process.env.PORT),'127.0.0.1')";
  const startBare = async () => {
    bare.push(await coldStart(process.execPath, ['-e', bareScript], { PORT: await freePort() }, '/'));
  };
  for (let i = 0; i < runs; i++) {
    const port = await freePort();
    ours.push(
      // What `npm start` runs once built.
      await coldStart(
        process.execPath,
        ['--enable-source-maps', 'dist/main.js'],
        { PORT: port, DATABASE_URL: join(tempDir(), 'cold.sqlite'), LOG_LEVEL: 'silent' },
        '/readyz',
        // Quick mode reads the idle RSS of its first start only (its 1 s wait is the start's own),
        // and starts the bare server (≈ 0.1 s, then its own 1 s to the RSS read) in that second.
        !ctx.quick || i === 0,
        ctx.quick && i === 0 ? startBare : undefined,
      ),
    );
    // The bare server is only the yardstick (≈ 0.1 s, steady): quick mode starts it once.
    if (!ctx.quick) await startBare();
  }
  // The median of several starts: what a restart costs, without one noisy run deciding.
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
  const readyMs = median(ours.map((s) => s.readyMs));
  const bareMs = median(bare.map((s) => s.readyMs));
  const rss = median(ours.map((s) => s.rssMb).filter((mb) => !Number.isNaN(mb)));
  const bareRss = median(bare.map((s) => s.rssMb));
  const cpuMs = median(ours.map((s) => s.cpuMs));
  const spread = (values: number[]) => `${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)}`;
  ctx.log(
    `cold start: ${readyMs.toFixed(0)} ms (runs ${spread(ours.map((s) => s.readyMs))}; bare node ${bareMs.toFixed(0)} ms), ` +
      `${cpuMs.toFixed(0)} ms CPU to ready; idle RSS ${rss.toFixed(1)} MB`,
  );
  return {
    start: {
      value: round(readyMs),
      baseline: round(bareMs),
      ratio: round(readyMs / bareMs, 3),
      target: '<= 1000 ms',
      pass: readyMs <= 1000,
      unit: 'ms',
      note: `runs ${spread(ours.map((s) => s.readyMs))} ms; CPU to ready ${cpuMs.toFixed(0)} ms (bare ${median(bare.map((s) => s.cpuMs)).toFixed(0)} ms)`,
    },
    memory: {
      value: round(rss),
      baseline: round(bareRss),
      ratio: round(rss / bareRss, 3),
      target: '<= 120 MB',
      pass: rss <= 120,
      unit: 'MB RSS',
    },
  };
}
