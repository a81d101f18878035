import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { type AddressInfo, createServer, type Socket } from 'node:net';
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

  it('exits cleanly within its bound when the tracing collector takes connections and never answers', async () => {
    // A collector that accepts and then says nothing: the exporter would wait for it longer than
    // the shutdown may last.
    const held: Socket[] = [];
    const collector = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const collectorPort = (collector.address() as AddressInfo).port;
    try {
      const run = start({
        PORT: '0',
        DATABASE_URL: await testDatabaseUrl(dir, 'tracing.sqlite'),
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${collectorPort}/v1/traces`,
        SHUTDOWN_TIMEOUT_MS: '1000',
      });
      const port = await waitForListening(run.output);
      // Spans to send: the batch processor holds them (its first export is seconds away).
      for (let i = 0; i < 3; i++) expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      expect(run.output()).toContain('buffered spans not sent before shutdown');
      expect(run.output()).toContain('"msg":"stopped"');
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => collector.close(resolve));
    }
  }, 60_000);

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
