import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Client } from 'graphql-ws';
import { wsClient } from '../helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
// tsx's loader in the one node process (not the tsx CLI, whose child would outlive a SIGKILL).
const tsxLoader = pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

/** One replica: the real service (`src/main.ts`) as a child process on a free port. */
export interface Replica {
  name: string;
  port: number;
  url: string;
  wsUrl: string;
  child: ChildProcess;
  /** Everything it logged so far. */
  output(): string;
  /** A graphql-ws client on this replica (disposed by `Cluster.stop`). */
  ws(): Client;
  /** SIGKILL: as abrupt as a crash; resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM, and waits for the graceful stop. */
  stop(): Promise<void>;
}

export interface Cluster {
  replicas: Replica[];
  /** The replica started as `name`. */
  get(name: string): Replica;
  /** Starts one more replica with the cluster's environment (and `env` on top). */
  add(name: string, env?: Record<string, string>): Promise<Replica>;
  stop(): Promise<void>;
}

/**
 * Replicas of the service sharing `env` (DATABASE_URL, REDIS_URL, vendors…), each its own
 * process as in production, started side by side.
 */
export async function startCluster(names: string[], env: Record<string, string>): Promise<Cluster> {
  const replicas: Replica[] = [];
  const clients: Client[] = [];
  const add = async (name: string, extra: Record<string, string> = {}) => {
    const replica = await startReplica(name, { ...env, ...extra }, clients);
    replicas.push(replica);
    return replica;
  };
  try {
    await Promise.all(names.map((name) => add(name)));
  } catch (error) {
    await Promise.all(replicas.map((replica) => replica.kill()));
    throw error;
  }
  return {
    replicas,
    add,
    get(name) {
      const replica = replicas.find((r) => r.name === name);
      if (!replica) throw new Error(`no replica ${name}`);
      return replica;
    },
    async stop() {
      await Promise.all(clients.splice(0).map((client) => client.dispose()));
      await Promise.all(replicas.map((replica) => replica.stop()));
    },
  };
}

async function startReplica(name: string, env: Record<string, string>, clients: Client[]): Promise<Replica> {
  const child = spawn(process.execPath, ['--import', tsxLoader, 'src/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: '0',
      LOG_LEVEL: 'info',
      SANDBOX_STEP_MS: '50',
      POLL_INTERVAL_MS: '60000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  let port = 0;
  for (let i = 0; i < 1200 && !port; i++) {
    const match = output.match(/listening on http:\/\/localhost:(\d+)/);
    if (match) port = Number(match[1]);
    else if (child.exitCode !== null) break;
    else await new Promise((resolve) => setTimeout(resolve, 25));
  }
  if (!port) {
    child.kill('SIGKILL');
    throw new Error(`replica ${name} did not start:\n${output}`);
  }
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    child,
    output: () => output,
    ws() {
      const client = wsClient(`ws://127.0.0.1:${port}/graphql`);
      clients.push(client);
      return client;
    },
    async kill() {
      if (!gone()) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (gone()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Subscriptions a replica holds open now (its `livestream_subscriptions_open` gauge, all transports). */
export async function openSubscriptions(replica: Replica): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${replica.port}/metrics`)).text();
  let open = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('livestream_subscriptions_open{') || line.startsWith('livestream_subscriptions_open ')) {
      open += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return open;
}

/** What one subscriber saw of each stream: the versions, in the order they arrived. */
export function versionsByStream(events: { id: string; version: number }[]): Map<string, number[]> {
  const seen = new Map<string, number[]>();
  for (const event of events) {
    const versions = seen.get(event.id) ?? [];
    versions.push(event.version);
    seen.set(event.id, versions);
  }
  return seen;
}

/** 1, 2, …, n: every version of a stream once, in order. */
export function allVersions(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
