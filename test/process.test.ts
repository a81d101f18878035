import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_STORE, tempDir, testDatabaseUrl } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `npm start`'s command as a real process. */
function start(env: Record<string, string>): {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(tsx, ['src/main.ts'], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitForListening(output: () => string): Promise<number> {
  for (let i = 0; i < 300; i++) {
    const match = output().match(/listening on http:\/\/localhost:(\d+)/);
    if (match) return Number(match[1]);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`service did not start: ${output()}`);
}

describe('the service process', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`starts on the ${TEST_STORE} store with the sandbox and exits cleanly on ${signal}`, async () => {
      const run = start({ PORT: '0', DATABASE_URL: await testDatabaseUrl(dir, `${signal}.sqlite`) });
      const port = await waitForListening(run.output);
      const health = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(health.status).toBe(200);
      // It exits by itself, with 0 (the test's own timeout catches a shutdown that hangs).
      run.child.kill(signal);
      expect(await run.exited).toBe(0);
      expect(run.output()).toContain('stopped');
    });
  }

  it('refuses to boot on a malformed value, naming the variable', async () => {
    const run = start({ PORT: 'eighty', POLL_INTERVAL_MS: '-5', DATABASE_URL: join(dir, 'bad.sqlite') });
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain('PORT');
    expect(run.output()).toContain('POLL_INTERVAL_MS');
    // Through the logger like every other line: one JSON object at level fatal, problems as a field.
    const line = JSON.parse(run.output().trim().split('\n').at(-1) as string);
    expect(line.level).toBe(60);
    expect(line.problems).toEqual(expect.arrayContaining([expect.stringContaining('PORT')]));
  });
});
