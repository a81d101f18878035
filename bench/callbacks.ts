import { join } from 'node:path';
import { openClients, post } from './fanout.js';
import {
  type BenchContext,
  type BenchResult,
  type ChildServer,
  percentile,
  ratioResult,
  round,
  startChild,
  tempDir,
} from './lib.js';

const WATCH = 'subscription($id: ID!) { livestreamChanged(id: $id) { id status vendorStatus version } }';
/** Apollo Router's default heartbeat; quick mode asks for 2 s, so its window costs less time. */
const HEARTBEAT_MS = 5000;
const QUICK_HEARTBEAT_MS = 2000;

/** A service with one livestream that stays STARTING (the sandbox never steps): answers it and its id. */
async function serviceWithStream(name: string): Promise<{ service: ChildServer; id: string }> {
  const service = await startChild('service.ts', {
    DATABASE_URL: join(tempDir(), `${name}.sqlite`),
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
    SANDBOX_STEP_MS: '3600000',
    POLL_INTERVAL_MS: '3600000',
  });
  const started = await post(
    service.port,
    'mutation { startLivestream(input: { roomId: "callback-bench" }) { ... on StartLivestreamSuccess { livestream { id } } } }',
  );
  return { service, id: started.data.startLivestream.livestream.id as string };
}

/** Callback subscriptions on one stream: median time from a change to the last `next`, and heartbeats per second. */
async function callbackDelivery(ctx: BenchContext, count: number, rounds: number) {
  const { service, id } = await serviceWithStream(`callbacks-${count}`);
  const receiver = await startChild('clients/callback-receiver.ts');
  try {
    const began = Date.now();
    const registered = await receiver.call<number>('register', {
      url: `http://127.0.0.1:${service.port}/graphql`,
      count,
      query: WATCH,
      variables: { id },
      heartbeatIntervalMs: ctx.quick ? QUICK_HEARTBEAT_MS : HEARTBEAT_MS,
    });
    if (registered !== count) throw new Error(`only ${registered} of ${count} callback subscriptions registered`);
    ctx.log(`callbacks: ${count} registered in ${((Date.now() - began) / 1000).toFixed(1)} s`);
    // Two intervals after the rounds; quick mode counts one interval during the rounds instead
    // (every subscription's heartbeat still falls in it once, and it costs no time of its own).
    const windowMs = ctx.quick ? QUICK_HEARTBEAT_MS : 2 * HEARTBEAT_MS;
    const during = ctx.quick ? receiver.call<number>('checks', { windowMs }) : undefined;
    const times: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const marker = `cb-${count}-${r}-${Date.now()}`;
      const last = receiver.call<number>('expect', { marker, count });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const startedAt = await service.call<number>('touch', { id, marker });
      const at = await last;
      if (at < 0) throw new Error(`not every callback subscription got ${marker}`);
      times.push(at - startedAt);
    }
    const checks = await (during ?? receiver.call<number>('checks', { windowMs }));
    const heartbeats = checks / (windowMs / 1000);
    return { times, heartbeats };
  } finally {
    await receiver.call('close');
    await receiver.stop();
    await service.stop();
  }
}

/** The same number of graphql-ws subscribers on the same stream: median time to the last one. */
async function websocketDelivery(count: number, rounds: number): Promise<number[]> {
  const { service, id } = await serviceWithStream(`ws-${count}`);
  try {
    const clients = await openClients(`ws://127.0.0.1:${service.port}/graphql`, count, () => ({
      query: WATCH,
      variables: { id },
      concerned: true,
    }));
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const times: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const marker = `ws-${count}-${r}-${Date.now()}`;
        const shares = clients.processes.map((p, k) =>
          p.call<number>('expect', { marker, count: Math.min(19_500, count - k * 19_500) }),
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
        const startedAt = await service.call<number>('touch', { id, marker });
        const lasts = await Promise.all(shares);
        if (lasts.some((last) => last < 0)) throw new Error(`not every subscriber got ${marker}`);
        times.push(Math.max(...lasts) - startedAt);
      }
      return times;
    } finally {
      await clients.stop();
    }
  } finally {
    await service.stop();
  }
}

/**
 * Apollo's HTTP callback protocol: N callback subscriptions on one stream (one `next` POST each per
 * change, to a receiver in another process), time from the change to the last `next` received,
 * against N graphql-ws subscribers of the same stream in the same run; and the heartbeat load
 * (checks per second) at Apollo Router's default 5 s interval.
 */
export async function callbackFanOut(ctx: BenchContext): Promise<Record<string, BenchResult>> {
  const sizes = ctx.quick ? [300] : [1000, 10_000];
  const rounds = ctx.quick ? 3 : 5;
  const results: Record<string, BenchResult> = {};
  for (const count of sizes) {
    const callbacks = await callbackDelivery(ctx, count, rounds);
    const ws = await websocketDelivery(count, rounds);
    const ours = percentile(callbacks.times, 50);
    const baseline = percentile(ws, 50);
    ctx.log(
      `callbacks: a change reaches ${count} callback subscriptions in ${ours.toFixed(1)} ms ` +
        `(graphql-ws ${baseline.toFixed(1)} ms); ${callbacks.heartbeats.toFixed(0)} heartbeats/s`,
    );
    results[`callback_delivery_${count}_ms`] = ratioResult(
      ours,
      baseline,
      { atMost: 20 },
      {
        unit: 'ms',
        note: `${count} callback subscriptions vs ${count} graphql-ws subscribers; median of ${rounds}; heartbeats ${round(callbacks.heartbeats)}/s at ${ctx.quick ? QUICK_HEARTBEAT_MS : HEARTBEAT_MS} ms; callbacks: ${callbacks.times.map((t) => t.toFixed(1)).join(', ')}; ws: ${ws.map((t) => t.toFixed(1)).join(', ')}`,
      },
    );
  }
  return results;
}
