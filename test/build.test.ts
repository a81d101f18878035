import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

// Runs once (vitest.config.ts, ONCE): it rebuilds dist/, which two projects at a time would race on.
const root = fileURLToPath(new URL('..', import.meta.url));
const dir = tempDir();
const databases: TestDatabase[] = [];
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await Promise.all(databases.map((database) => database.drop()));
});

/** `npm start`'s command, on the bundle `npm run build` wrote. */
function start(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number> } {
  const child = spawn(process.execPath, ['--enable-source-maps', 'dist/main.js'], {
    cwd: root,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  return { child, output: () => output, exited };
}

async function listening(run: ReturnType<typeof start>): Promise<string> {
  for (let i = 0; i < 600; i++) {
    const match = run.output().match(/listening on (http:\/\/localhost:\d+)/);
    if (match?.[1]) return match[1].replace('localhost', '127.0.0.1');
    if (run.child.exitCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`service did not start: ${run.output()}`);
}

async function startLivestream(base: string): Promise<unknown> {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query:
        'mutation { startLivestream(input: { roomId: "room-1" }) { __typename ... on StartLivestreamSuccess { livestream { status } } } }',
    }),
  });
  return response.json();
}

describe('the built service (npm run build, then npm start)', () => {
  beforeAll(() => {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'pipe' });
  }, 120_000);

  it('serves GraphQL, the status page and its assets on SQLite, and stops cleanly on SIGTERM', async () => {
    const run = start({ DATABASE_URL: join(dir, 'built.sqlite') });
    const base = await listening(run);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect(await startLivestream(base)).toEqual({
      data: { startLivestream: { __typename: 'StartLivestreamSuccess', livestream: { status: 'STARTING' } } },
    });
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('livestream subgraph');
    expect((await fetch(`${base}/status/app.js`)).status).toBe(200);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain('stopped');
  });

  // On PostgreSQL the replica wiring (the change-log tailer) is loaded too, as it is with REDIS_URL.
  it('loads the PostgreSQL store, the replica wiring and tracing when configured', async () => {
    const database = await createTestDatabase();
    databases.push(database);
    const received: string[] = [];
    const collector = createServer((req, res) => {
      received.push(`${req.method} ${req.url}`);
      req.resume();
      req.on('end', () => res.end('{}'));
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const traces = `http://127.0.0.1:${(collector.address() as AddressInfo).port}/v1/traces`;
    try {
      const run = start({
        DATABASE_URL: database.url,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: traces,
      });
      const base = await listening(run);
      expect(await startLivestream(base)).toEqual({
        data: { startLivestream: { __typename: 'StartLivestreamSuccess', livestream: { status: 'STARTING' } } },
      });
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      // The spans buffered are sent at shutdown.
      expect(received).toContain('POST /v1/traces');
    } finally {
      collector.close();
    }
  });

  it('names our source files and lines in the stack trace of an error from our code', async () => {
    // The SQLite file's folder cannot be made: a file is in its place.
    writeFileSync(join(dir, 'a-file'), '');
    const run = start({ DATABASE_URL: join(dir, 'a-file', 'db.sqlite') });
    expect(await run.exited).not.toBe(0);
    expect(run.output()).toMatch(/at prepareFiles \(.*src\/store\/sqlite\/database\.ts:\d+:\d+\)/);
    expect(run.output()).toMatch(/at buildApp \(.*src\/app\.ts:\d+:\d+\)/);
  });
});
