import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { type App, buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { tempDir, testDatabaseUrl } from '../helpers.js';

/** Samples of a Prometheus text exposition, by `name{label="value",...}` as written. */
export type Samples = Map<string, number>;

export async function scrape(baseUrl: string, token?: string): Promise<Samples> {
  const response = await fetch(`${baseUrl}/metrics`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
  const samples: Samples = new Map();
  for (const line of (await response.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** The value of one sample (0 when absent): `metric('x_total', { a: 'b' })`. */
export function sample(samples: Samples, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const [key, value] of samples) {
    const brace = key.indexOf('{');
    const keyName = brace === -1 ? key : key.slice(0, brace);
    if (keyName !== name) continue;
    const text = brace === -1 ? '' : key.slice(brace);
    if (Object.entries(labels).every(([label, wanted]) => text.includes(`${label}="${wanted}"`))) total += value;
  }
  return total;
}

/** How much each sample moved between two scrapes. */
export function delta(before: Samples, after: Samples): (name: string, labels?: Record<string, string>) => number {
  return (name, labels = {}) => sample(after, name, labels) - sample(before, name, labels);
}

/** The service (as test/helpers.ts starts it) with its JSON log lines captured. */
export interface LoggedServer {
  app: App;
  base: string;
  port: number;
  lines: Record<string, unknown>[];
  stop(): Promise<void>;
}

export async function startLoggedServer(env: Record<string, string> = {}): Promise<LoggedServer> {
  const dir = tempDir();
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  const config = loadConfig({
    PORT: '0',
    DATABASE_URL: await testDatabaseUrl(dir, 'livestreams.sqlite'),
    LOG_LEVEL: 'info',
    SANDBOX_STEP_MS: '50',
    POLL_INTERVAL_MS: '60000',
    ...env,
  });
  const app = await buildApp(config, createLogger(config.logLevel, sink));
  const port = await app.start();
  let stopped: Promise<void> | undefined;
  return {
    app,
    port,
    base: `http://127.0.0.1:${port}`,
    lines,
    stop() {
      stopped ??= app.stop().then(() => rmSync(dir, { recursive: true, force: true }));
      return stopped;
    },
  };
}
