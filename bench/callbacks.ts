import { join } from 'node:path';
import { expectEverywhere, type FanOutClients, openClients, post, waitForSubscriptions } from './fanout.js';
import {
  type BenchContext,
  type BenchResult,
  type ChildServer,
  percentile,
  ratioResult,
  round,
  startAhead,
  startChild,
  tempDir,
} from './lib.js';

const WATCH = 'subscription($id: ID!) { livestreamChanged(id: $id) { id status vendorStatus version } }';
/**
 * Apollo Router's default heartbeat; quick mode asks for 2 s, so its window costs less time (1 s,
 * the least the service takes, was tried: 300 checks/s under load slowed the deliveries measured
 * and fell short of 300/s, bench/README.md "Quick mode, 2026-12-06 late session").
 */
const HEARTBEAT_MS = 5000;
const QUICK_HEARTBEAT_MS = 2000;

/** A service whose sandbox never steps (a livestream started on it stays STARTING). */
function startService(name: string): Promise<ChildServer> {
  return startChild('service.ts', {
    DATABASE_URL: join(tempDir(), `${name}.sqlite`),
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
    SANDBOX_STEP_MS: '3600000',
    POLL_INTERVAL_MS: '3600000',
  });
}

/** Starts the one livestream the subscriptions watch: answers its id. */
async function startStream(service: ChildServer): Promise<string> {
  const started = await post(
    service.port,
    'mutation { startLivestream(input: { roomId: "callback-bench" }) { ... on StartLivestreamSuccess { livestream { id } } } }',
  );
  return started.data.startLivestream.livestream.id as string;
}

/**
 * Callback subscriptions on one stream of `service`, registered by a receiver (`startReceiver`):
 * median time from a change to the last `next`, and heartbeats per second. Stops both.
 * `meanwhile` runs after the rounds, while the heartbeats are still being counted.
 */
async function callbackDelivery(
  ctx: BenchContext,
  count: number,
  rounds: number,
  service: ChildServer,
  startReceiver: () => Promise<ChildServer>,
  meanwhile?: () => Promise<unknown>,
) {
  let receiver: ChildServer | undefined;
  try {
    receiver = await startReceiver();
    const id = await startStream(service);
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
      let last: Promise<number>;
      if (ctx.quick) {
        // Fired as soon as the receiver answers that it is armed (full mode: 100 ms after asking).
        await receiver.call('arm', { marker, count });
        last = receiver.call<number>('last');
      } else {
        last = receiver.call<number>('expect', { marker, count });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const startedAt = await service.call<number>('touch', { id, marker });
      const at = await last;
      if (at < 0) throw new Error(`not every callback subscription got ${marker}`);
      times.push(at - startedAt);
    }
    const [checks] = await Promise.all([during ?? receiver.call<number>('checks', { windowMs }), meanwhile?.()]);
    const heartbeats = checks / (windowMs / 1000);
    return { times, heartbeats };
  } finally {
    await receiver?.call('close');
    await receiver?.stop();
    await service.stop();
  }
}

/** A service with graphql-ws subscribers of one stream, open and registered. */
interface WebsocketSide {
  service: ChildServer;
  id: string;
  clients: FanOutClients;
}

/** Opens `count` graphql-ws subscribers of one stream of `service` (stops it if that fails). */
async function openWebsockets(ctx: BenchContext, count: number, service: ChildServer): Promise<WebsocketSide> {
  try {
    const id = await startStream(service);
    const own = await service.call<number>('subscribers');
    const clients = await openClients(`ws://127.0.0.1:${service.port}/graphql`, count, () => ({
      query: WATCH,
      variables: { id },
      concerned: true,
    }));
    try {
      // Quick mode waits until every subscription is registered, full mode half a second.
      if (ctx.quick) await waitForSubscriptions(service, own + count);
      else await new Promise((resolve) => setTimeout(resolve, 500));
    } catch (error) {
      await clients.stop();
      throw error;
    }
    return { service, id, clients };
  } catch (error) {
    await service.stop();
    throw error;
  }
}

/** The graphql-ws side's rounds: median time to the last subscriber. Stops its service. */
async function websocketDelivery(ctx: BenchContext, count: number, rounds: number, side: WebsocketSide) {
  const { service, id, clients } = side;
  try {
    const times: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const marker = `ws-${count}-${r}-${Date.now()}`;
      const took = await expectEverywhere(
        clients,
        marker,
        () => service.call<number>('touch', { id, marker }),
        ctx.quick,
      );
      times.push(took);
    }
    return times;
  } finally {
    await clients.stop();
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
    // Quick mode starts the receiver and the graphql-ws side's service beside the callbacks' one,
    // and opens the graphql-ws side's sockets (setup) once the callbacks' rounds are done, while
    // the heartbeats are still being counted.
    const receiver = startAhead(ctx.quick, () => startChild('clients/callback-receiver.ts'));
    const wsService = startAhead(ctx.quick, () => startService(`ws-${count}`));
    const openWs = async () => openWebsockets(ctx, count, await wsService());
    let wsSide: Promise<WebsocketSide> | undefined;
    const meanwhile = ctx.quick ? () => (wsSide = openWs()) : undefined;
    const service = await startService(`callbacks-${count}`);
    const callbacks = await callbackDelivery(ctx, count, rounds, service, receiver, meanwhile);
    const ws = await websocketDelivery(ctx, count, rounds, await (wsSide ?? openWs()));
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
