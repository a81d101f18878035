import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { tempDir, testDatabaseUrl } from '../helpers.js';
import { bearer, closed, HS256_ENV, hsToken, LARGE_QUERY } from './support.js';

// The floods of issue 10 against the service as its own process (production, auth and the
// router secret on), whose memory is read from /proc: its peak resident set (VmHWM) must stay
// within a generous bound of what it was before the flood.

const root = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'router-secret-0123456789';
const MiB = 1024 * 1024;
const dir = tempDir();
let child: ChildProcess;
let port = 0;

beforeAll(async () => {
  child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      ...HS256_ENV,
      NODE_ENV: 'production',
      SUBGRAPH_SECRET: SECRET,
      PORT: '0',
      DATABASE_URL: await testDatabaseUrl(dir, 'memory.sqlite'),
      LOG_LEVEL: 'info',
      // The frame-rate bound would cut the ping flood short; this test is about what is held.
      WS_MAX_MESSAGES_PER_SECOND: '1000000',
      WS_MAX_BUFFERED_BYTES: String(1024 * 1024),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  for (let i = 0; i < 600 && !port; i++) {
    const match = output.match(/listening on http:\/\/localhost:(\d+)/);
    if (match) port = Number(match[1]);
    else await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (!port) throw new Error(`service did not start: ${output}`);
}, 60_000);

afterAll(async () => {
  if (child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

/** The service's peak resident memory so far, in MiB. */
function peakMiB(): number {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const match = status.match(/VmHWM:\s+(\d+) kB/);
  return Number(match?.[1]) / 1024;
}

/** The service's CPU time so far, in clock ticks. */
function cpuTicks(): number {
  const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return Number(fields[11]) + Number(fields[12]);
}

/** Resolves once the service has done (almost) nothing for half a second: it answered all it could. */
async function idle(): Promise<void> {
  let last = cpuTicks();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const now = cpuTicks();
    if (now - last <= 2) return;
    last = now;
  }
}

function open(): Promise<WebSocket> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws', {
    headers: { 'x-subgraph-secret': SECRET },
  });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends `frames` as fast as the socket takes them, waiting for its buffer to drain now and then. */
async function flood(socket: WebSocket, frames: number, frame: string): Promise<void> {
  for (let i = 0; i < frames; i++) {
    socket.send(frame);
    if (socket.bufferedAmount > 4 * MiB) {
      while (socket.bufferedAmount > MiB) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

describe('server memory under WebSocket floods (a child process, production, auth and router secret on)', () => {
  it('a client that never sends connection_init, never reads and sends 300,000 pings: no pong, memory flat', async () => {
    const before = peakMiB();
    const socket = await open();
    socket.pause();
    await flood(socket, 300_000, '{"type":"ping"}');
    const messages: string[] = [];
    socket.on('message', (data) => messages.push(JSON.parse(String(data)).type));
    const token = await hsToken({ roles: ['viewer'] });
    const acked = new Promise<void>((resolve) =>
      socket.on('message', (data) => {
        if (JSON.parse(String(data)).type === 'connection_ack') resolve();
      }),
    );
    // Frames are handled in order: the acknowledgement comes after every ping was handled.
    socket.send(JSON.stringify({ type: 'connection_init', payload: bearer(token) }));
    const peakDuring = peakMiB();
    socket.resume();
    await acked;
    const after = peakMiB();
    console.log(
      `ping flood before init: peak RSS ${before.toFixed(0)} MiB before, ${after.toFixed(0)} MiB after (${peakDuring.toFixed(0)} MiB while paused)`,
    );
    expect(messages[0]).toBe('connection_ack');
    expect(messages).not.toContain('pong');
    expect(after - before).toBeLessThan(100);
    socket.close();
  }, 120_000);

  it('20 sockets each asking 100 large queries without reading: each closed with 1013, memory bounded', async () => {
    const before = peakMiB();
    const token = await hsToken({ roles: ['viewer'] });
    const sockets = await Promise.all(Array.from({ length: 20 }, () => open()));
    await Promise.all(
      sockets.map(
        (socket) =>
          new Promise<void>((resolve) => {
            socket.once('message', () => resolve());
            socket.send(JSON.stringify({ type: 'connection_init', payload: bearer(token) }));
          }),
      ),
    );
    for (const socket of sockets) {
      socket.pause();
      for (let i = 0; i < 100; i++) {
        socket.send(JSON.stringify({ id: String(i), type: 'subscribe', payload: { query: LARGE_QUERY } }));
      }
    }
    // Let the service answer what it will while nothing is read.
    await idle();
    const during = peakMiB();
    const closings = sockets.map((socket) => closed(socket));
    for (const socket of sockets) socket.resume();
    const codes = (await Promise.all(closings)).map((outcome) => outcome.code);
    console.log(`large queries unread: peak RSS ${before.toFixed(0)} MiB before, ${during.toFixed(0)} MiB during`);
    expect(codes).toEqual(Array(20).fill(1013));
    expect(during - before).toBeLessThan(200);
  }, 120_000);
});
