import { startRedisServer } from '../test/support/redis-server.js';
import { type FanOutClients, openClients, post, untilCounted, waitForSubscriptions } from './fanout.js';
import {
  allOrRelease,
  type BenchContext,
  type BenchResult,
  benchDatabase,
  type ChildServer,
  percentile,
  ratioResult,
  setUpEach,
  startChild,
} from './lib.js';

const ROOMS = 100;
const SUBSCRIBERS_PER_REPLICA = 1000;
/** Quick mode: opening subscriptions on a PostgreSQL replica is most of its time. */
const QUICK_SUBSCRIBERS_PER_REPLICA = 200;
const RATE = 500;

const WATCH_ROOM = 'subscription($room: String!) { livestreamChanged(roomId: $room) { id vendorStatus } }';

interface Delivery {
  /** Changes per second asked for. */
  asked: number;
  /** Changes per second the load reached (below RATE when the database could not keep up). */
  rate: number;
  p50: number;
  p99: number;
  deliveries: number;
  missing: number;
}

/** Rounds of load each topology takes, alternating (full run; quick: 2 of 0.5 s), after a warm-up of each. */
const ROUNDS = 5;
const ROUND_SECONDS = 2;

/**
 * Cross-replica delivery: three replicas on one PostgreSQL database and one Redis; changes
 * committed on the first at 500 per second (one livestream per room, 100 rooms, each change a new
 * vendor status through the real intake), received by 1,000 graphql-ws subscribers on each of the
 * two others (10 per room). p50 and p99 from commit to receipt, against the same load on one
 * replica holding all 2,000 subscribers (same database engine, its own database and Redis), in
 * the same run. Both are set up first, then loaded in alternating rounds (paced, the one replica at
 * the rate the three reached in the round before): a p99 a round each, and the median of the
 * rounds' p99s for each. A stall of the whole machine (30–200 ms, a few a minute under this load:
 * bench/README.md, "Cross-replica delivery, 2026-12-06, night session") made the p99 of whichever
 * single 10 s window it fell in, so the ratio swung 0.4–5.7× between identical runs of one tree.
 */
export async function replicaDelivery(ctx: BenchContext): Promise<Record<string, BenchResult>> {
  const rounds = ctx.quick ? 2 : ROUNDS;
  const seconds = ctx.quick ? 0.5 : ROUND_SECONDS;
  const [redisCross, redisSingle] = await Promise.all([startRedisServer(), startRedisServer()]);
  const topologies: Topology[] = [];
  try {
    // Set up side by side in quick mode (setup only), one after the other otherwise.
    await setUpEach(
      ctx.quick,
      [
        ['cross', redisCross.url],
        ['single', redisSingle.url],
      ] as const,
      ([topology, url]) => setUp(ctx, url, topology),
      topologies,
    );
    const [cross, single] = topologies as [Topology, Topology];
    // Warm up (JIT, pools), then the measured rounds.
    for (const topology of topologies) await load(ctx, topology, RATE, ctx.quick ? 0.3 : 1, 'warm-');
    const crossRounds: Delivery[] = [];
    const singleRounds: Delivery[] = [];
    for (let round = 0; round < rounds; round++) {
      const across = await load(ctx, cross, RATE, seconds, `load-${round}-`);
      crossRounds.push(across);
      singleRounds.push(await load(ctx, single, Math.min(RATE, Math.round(across.rate)), seconds, `load-${round}-`));
    }
    // Only for the note: quick mode leaves it out (under a minute for every benchmark).
    const commits = ctx.quick ? undefined : await serialCommitRate();
    const summary = (all: Delivery[]): Delivery => ({
      asked: median(all.map((d) => d.asked)),
      rate: median(all.map((d) => d.rate)),
      p50: median(all.map((d) => d.p50)),
      p99: median(all.map((d) => d.p99)),
      deliveries: all.reduce((sum, d) => sum + d.deliveries, 0),
      missing: all.reduce((sum, d) => sum + d.missing, 0),
    });
    const across = summary(crossRounds);
    const alone = summary(singleRounds);
    ctx.log(
      `replicas: commit to receipt p50 ${across.p50.toFixed(1)} ms, p99 ${across.p99.toFixed(1)} ms across replicas; ` +
        `one replica p50 ${alone.p50.toFixed(1)} ms, p99 ${alone.p99.toFixed(1)} ms (medians of ${rounds} alternating rounds)`,
    );
    const p99s = (all: Delivery[]) => all.map((d) => d.p99.toFixed(1)).join(', ');
    const note = (d: Delivery) =>
      `${d.rate.toFixed(0)} of ${d.asked} changes/s reached, p50 ${d.p50.toFixed(1)} ms, ${d.deliveries} deliveries, ${d.missing} missing`;
    return {
      replicas_delivery_p99_ms: ratioResult(
        across.p99,
        alone.p99,
        { atMost: 3 },
        {
          unit: 'ms',
          note:
            `median p99 of ${rounds} alternating rounds of ${seconds} s, ${ctx.quick ? QUICK_SUBSCRIBERS_PER_REPLICA : SUBSCRIBERS_PER_REPLICA} subscribers on each of 2 replicas; ` +
            `across: ${note(across)}, p99s ${p99s(crossRounds)}; one replica: ${note(alone)}, p99s ${p99s(singleRounds)}; ` +
            `PostgreSQL here: ${commits === undefined ? 'not measured (quick)' : `${commits.toFixed(0)} durable single-row commits/s from one connection`}`,
          pass: across.p99 <= 3 * alone.p99 && across.missing === 0 && alone.missing === 0,
        },
      ),
    };
  } finally {
    await Promise.all(topologies.map((t) => t.stop()));
    await Promise.all([redisCross.stop(), redisSingle.stop()]);
  }
}

function median(values: number[]): number {
  return percentile(values, 50);
}

/**
 * One livestream per room, ROOMS of them, on a fresh database: started through the API (two
 * commits each under the change-log lock, one after the other across the 100: 6 s at load 10);
 * quick mode seeds them in one transaction instead (the `seed` command, HMS streams in STARTING, as
 * the webhook benchmark's), setup only: the changes measured go through the intake either way.
 */
async function seedRooms(
  ctx: BenchContext,
  committer: ChildServer,
): Promise<{ ids: string[]; roomOf: (room: number) => string }> {
  if (ctx.quick) {
    await committer.call('seed', { count: ROOMS, bulk: true });
    return {
      ids: Array.from({ length: ROOMS }, (_, room) => `wh-stream-${room}`),
      roomOf: (room) => `wh-room-${room}`,
    };
  }
  const ids = await Promise.all(
    Array.from({ length: ROOMS }, async (_, room) => {
      const started = await post(
        committer.port,
        'mutation($room: String!) { startLivestream(input: { roomId: $room }) { ... on StartLivestreamSuccess { livestream { id } } } }',
        { room: `replica-${room}` },
      );
      return started.data.startLivestream.livestream.id as string;
    }),
  );
  return { ids, roomOf: (room) => `replica-${room}` };
}

/** One topology, set up: `cross` commits on one replica and subscribes on two others; `single` does all on one. */
interface Topology {
  name: 'single' | 'cross';
  committer: ChildServer;
  /** The subscribers' client processes. */
  processes: ChildServer[];
  ids: string[];
  /** Deliveries a change makes: its room's subscribers over every holder. */
  perChange: number;
  stop(): Promise<void>;
}

async function setUp(ctx: BenchContext, redisUrl: string, name: 'single' | 'cross'): Promise<Topology> {
  const database = await benchDatabase();
  const env = {
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl,
    SANDBOX_STEP_MS: '3600000',
    POLL_INTERVAL_MS: '3600000',
    DATABASE_POOL_SIZE: '20',
  };
  const services: ChildServer[] = [];
  const clients: FanOutClients[] = [];
  const stop = async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await Promise.all(services.map((s) => s.stop()));
    await database.drop();
  };
  try {
    // Side by side: the first to take the migration lock applies the migrations, the others wait
    // for it and find nothing left to do (src/store/postgres/connect.ts).
    const starting = Array.from({ length: name === 'cross' ? 3 : 1 }, () => startChild('service.ts', env));
    services.push(...(await allOrRelease(starting, (s) => s.stop())));
    const committer = services[0] as ChildServer;
    const holders = name === 'cross' ? services.slice(1) : [committer];
    const perReplica = ctx.quick ? QUICK_SUBSCRIBERS_PER_REPLICA : SUBSCRIBERS_PER_REPLICA;
    const perHolder = (perReplica * 2) / holders.length;

    const { ids, roomOf } = await seedRooms(ctx, committer);
    // Quick mode opens the two holders' sockets side by side (each holder accepts on a core).
    await setUpEach(
      ctx.quick,
      holders,
      async (holder) => {
        const own = await holder.call<number>('subscribers');
        const set = await openClients(`ws://127.0.0.1:${holder.port}/graphql`, perHolder, (j) => ({
          query: WATCH_ROOM,
          variables: { room: roomOf(j % ROOMS) },
          concerned: true,
        }));
        await waitForSubscriptions(holder, own + perHolder);
        return set;
      },
      clients,
    );
    return {
      name,
      committer,
      processes: clients.flatMap((c) => c.processes),
      ids,
      perChange: (perReplica * 2) / ROOMS,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** One round: changes paced at `rate` for `seconds` on the committer, each delivery's time from commit. */
async function load(
  ctx: BenchContext,
  topology: Topology,
  rate: number,
  seconds: number,
  prefix: string,
): Promise<Delivery> {
  const { committer, processes, ids } = topology;
  await Promise.all(processes.map((p) => p.call('arrivals', prefix)));
  const committed = await committer.call<Record<string, number>>('churn', { ids, rate, seconds, prefix });
  const { __rate: reached = 0, ...changes } = committed;
  const expected = Object.keys(changes).length * topology.perChange;
  // Time for the last changes to arrive (every delivery is counted: a late one shows as missing).
  await untilCounted(processes, 'arrived-count', expected, ctx.quick ? 500 : 2000);
  const arrived = await Promise.all(processes.map((p) => p.call<Record<string, number[]>>('arrived')));

  const latencies: number[] = [];
  for (const share of arrived) {
    for (const [marker, times] of Object.entries(share)) {
      const at = changes[marker];
      if (at === undefined) continue;
      for (const time of times) latencies.push(time - at);
    }
  }
  return {
    asked: rate,
    rate: reached,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    deliveries: latencies.length,
    missing: expected - latencies.length,
  };
}

/**
 * What bounds the rate on this machine: durable single-row commits per second from one connection
 * (servers/bare-postgres.ts, a fresh database), measured in the same run. Applied changes commit
 * one after another (each holds the change-log lock to its commit), so a change costs at least
 * one of these plus its statements under the lock, unless the store groups them in one commit.
 */
async function serialCommitRate(): Promise<number> {
  const database = await benchDatabase();
  const bare = await startChild('bare-postgres.ts', { BENCH_DATABASE_URL: database.url });
  try {
    return await bare.call<number>('inserts', { seconds: 2, payload: 'x'.repeat(200) });
  } finally {
    await bare.stop();
    await database.drop();
  }
}
