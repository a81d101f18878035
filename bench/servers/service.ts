// The service under test, in its own process. Answers IPC commands from the benchmark.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { writeHeapSnapshot } from 'node:v8';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';

const config = loadConfig({ ...process.env, PORT: '0' });
const app = buildApp(config, createLogger(config.logLevel));
const port = await app.start();

let profiler: Session | undefined;

process.on('message', async (message: { type: string; id: number; command: string; args?: unknown }) => {
  if (message.type !== 'call') return;
  let result: unknown = null;
  if (message.command === 'memory') {
    for (let i = 0; i < 3; i++) globalThis.gc?.();
    result = process.memoryUsage();
  } else if (message.command === 'snapshot') {
    // A heap snapshot for bench/profile.ts (after a forced GC).
    for (let i = 0; i < 3; i++) globalThis.gc?.();
    result = writeHeapSnapshot(message.args as string);
  } else if (message.command === 'cpu-start') {
    // A CPU profile of a chosen window, for bench/profile.ts.
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  } else if (message.command === 'cpu-stop' && profiler) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(message.args as string, JSON.stringify(profile));
    profiler.disconnect();
    result = message.args;
  } else if (message.command === 'seed') {
    // Setup for the webhook benchmark: HMS livestreams in STARTING with known vendor ids, in one
    // transaction (the measured path is the webhook's, not this).
    const { count } = message.args as { count: number };
    const now = new Date();
    const far = new Date(Date.now() + 24 * 60 * 60 * 1000);
    await app.services.store.transaction(async () => {
      for (let i = 0; i < count; i++) {
        await app.services.store.streams.insert('livestream', {
          id: `wh-stream-${i}`,
          provider: 'HMS',
          roomId: `wh-room-${i}`,
          externalId: `wh-ext-${i}`,
          sessionId: null,
          status: 'STARTING',
          vendorStatus: null,
          version: 1,
          failureReason: null,
          idempotencyKey: null,
          startedAt: null,
          stoppedAt: null,
          createdAt: now,
          updatedAt: now,
          nextPollAt: far,
        });
      }
    });
    result = count;
  } else if (message.command === 'changes') {
    // Setup for the catch-up benchmark: one sandbox livestream changed `count` times (a new vendor
    // status each), through the real intake, committed a thousand at a time. Answers its id and
    // the cursor before the first of those changes.
    const { count } = message.args as { count: number };
    const stream = await app.services.streams.startLivestream({ roomId: 'catch-up-room' });
    for (let done = 0; done < count; ) {
      const batch = Math.min(1000, count - done);
      await app.services.store.transaction(async () => {
        for (let i = 0; i < batch; i++) {
          await app.intake.observed('livestream', stream.id, { status: stream.status, vendorStatus: `v-${done + i}` });
        }
      });
      done += batch;
    }
    result = { id: stream.id, position: stream.changePosition };
  } else if (message.command === 'subscribers') {
    result = app.services.events.subscriberCount;
  } else if (message.command === 'churn') {
    // The replica benchmark's load: `count` changes at `rate` per second, round robin over the
    // streams, each a new vendor status (`${prefix}${i}`) through the real intake. Answers when
    // each committed (epoch ms), by marker.
    const { ids, rate, count, prefix } = message.args as { ids: string[]; rate: number; count: number; prefix: string };
    const committed: Record<string, number> = {};
    const began = performance.now();
    // At most 16 changes in flight (within the pool): a database slower than `rate` makes the load
    // fall behind (the answer says what rate was reached) rather than queue without bound.
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < count; i++) {
      const wait = began + (i * 1000) / rate - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      while (inFlight.size >= 16) await Promise.race(inFlight);
      const id = ids[i % ids.length] as string;
      const marker = `${prefix}${i}`;
      const change: Promise<void> = app.intake
        .observed('livestream', id, { status: 'STARTING', vendorStatus: marker })
        .then(() => {
          committed[marker] = performance.timeOrigin + performance.now();
        })
        .finally(() => inFlight.delete(change));
      inFlight.add(change);
    }
    await Promise.all(inFlight);
    committed.__rate = count / ((performance.now() - began) / 1000);
    result = committed;
  } else if (message.command === 'touch') {
    // One status report that changes a stream (its vendor status), through the real intake path.
    const { id, marker } = message.args as { id: string; marker: string };
    const stream = await app.services.store.streams.get('livestream', id);
    if (stream) {
      const startedAt = performance.timeOrigin + performance.now();
      await app.intake.observed('livestream', id, { status: stream.status, vendorStatus: marker });
      result = startedAt;
    }
  }
  process.send?.({ type: 'result', id: message.id, result });
});
process.once('SIGTERM', () => {
  app.stop().finally(() => process.exit(0));
});
process.send?.({ type: 'ready', port });
