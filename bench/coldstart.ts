import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BenchContext, type BenchResult, ROOT, round, tempDir } from './lib.js';

interface Start {
  readyMs: number;
  rssMb: number;
}

/** Spawns a process and times it until `url` answers 200, then reads its resident memory. */
async function coldStart(command: string, args: string[], env: Record<string, string>, path: string): Promise<Start> {
  const began = performance.now();
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'ignore' });
  try {
    const port = Number(env.PORT);
    let readyMs = 0;
    for (let i = 0; i < 1000; i++) {
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
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const rssKb = Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
    return { readyMs, rssMb: rssKb / 1024 };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

/** Cold start to /readyz and idle memory, against a bare Node HTTP server started the same way. */
export async function coldStartAndMemory(ctx: BenchContext): Promise<{ start: BenchResult; memory: BenchResult }> {
  const runs = ctx.quick ? 2 : 5;
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  const ours: Start[] = [];
  const bare: Start[] = [];
  const bareScript =
    "require('node:http').createServer((q,s)=>s.end('ok')).listen(Number(process.env.PORT),'127.0.0.1')";
  for (let i = 0; i < runs; i++) {
    const port = String(43000 + i);
    ours.push(
      // What `npm start` runs once built.
      await coldStart(
        process.execPath,
        ['dist/main.js'],
        { PORT: port, DATABASE_URL: join(tempDir(), 'cold.sqlite'), LOG_LEVEL: 'silent' },
        '/readyz',
      ),
    );
    bare.push(await coldStart(process.execPath, ['-e', bareScript], { PORT: String(43100 + i) }, '/'));
  }
  // The median of several starts: what a restart costs, without one noisy run deciding.
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
  const readyMs = median(ours.map((s) => s.readyMs));
  const bareMs = median(bare.map((s) => s.readyMs));
  const rss = median(ours.map((s) => s.rssMb));
  const bareRss = median(bare.map((s) => s.rssMb));
  ctx.log(`cold start: ${readyMs.toFixed(0)} ms (bare node ${bareMs.toFixed(0)} ms); idle RSS ${rss.toFixed(1)} MB`);
  return {
    start: {
      value: round(readyMs),
      baseline: round(bareMs),
      ratio: round(readyMs / bareMs, 3),
      target: '<= 1500 ms',
      pass: readyMs <= 1500,
      unit: 'ms',
      note: `first run ${ours[0]?.readyMs.toFixed(0)} ms`,
    },
    memory: {
      value: round(rss),
      baseline: round(bareRss),
      ratio: round(rss / bareRss, 3),
      target: '<= 150 MB',
      pass: rss <= 150,
      unit: 'MB RSS',
    },
  };
}
