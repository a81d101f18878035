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

/**
 * Cross-replica delivery: three replicas on one PostgreSQL database and one Redis; changes
 * committed on the first at 500 per second (one livestream per room, 100 rooms, each change a new
 * vendor status through the real intake), received by 1,000 graphql-ws subscribers on each of the
 * two others (10 per room). p50 and p99 from commit to receipt over every delivery, against the
 * same load on one replica holding all 2,000 subscribers (same database engine, same Redis), in
 * the same run.
 */
export async function replicaDelivery(ctx: BenchContext): Promise<Record<string, BenchResult>> {
  const seconds = ctx.quick ? 1 : 10;
  const redis = await startRedisServer();
  try {
    // Across replicas first; then one replica under the same load: the rate the first reached
    // (below RATE when the database could not commit faster), so the two p99s compare like for like.
    const cross = await measure(ctx, redis.url, 'cross', seconds, RATE);
    const single = await measure(ctx, redis.url, 'single', seconds, Math.min(RATE, Math.round(cross.rate)));
    // Only for the note: quick mode leaves it out (under a minute for every benchmark).
    const commits = ctx.quick ? undefined : await serialCommitRate();
    ctx.log(
      `replicas: commit to receipt p50 ${cross.p50.toFixed(1)} ms, p99 ${cross.p99.toFixed(1)} ms across replicas; ` +
        `one replica p50 ${single.p50.toFixed(1)} ms, p99 ${single.p99.toFixed(1)} ms`,
    );
    const note = (d: Delivery) =>
      `${d.rate.toFixed(0)} of ${d.asked} changes/s reached, p50 ${d.p50.toFixed(1)} ms, ${d.deliveries} deliveries, ${d.missing} missing`;
    return {
      replicas_delivery_p99_ms: ratioResult(
        cross.p99,
        single.p99,
        { atMost: 3 },
        {
          unit: 'ms',
          note: `${seconds} s of load, ${ctx.quick ? QUICK_SUBSCRIBERS_PER_REPLICA : SUBSCRIBERS_PER_REPLICA} subscribers on each of 2 replicas; across: ${note(cross)}; one replica: ${note(single)}; PostgreSQL here: ${commits === undefined ? 'not measured (quick)' : `${commits.toFixed(0)} durable single-row commits/s from one connection`}`,
          pass: cross.p99 <= 3 * single.p99 && cross.missing === 0 && single.missing === 0,
        },
      ),
    };
  } finally {
    await redis.stop();
  }
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

/** One run: `cross` commits on one replica and subscribes on two others; `single` does all on one. */
async function measure(
  ctx: BenchContext,
  redisUrl: string,
  topology: 'single' | 'cross',
  seconds: number,
  rate: number,
): Promise<Delivery> {
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
  try {
    // Side by side: the first to take the migration lock applies the migrations, the others wait
    // for it and find nothing left to do (src/store/postgres/connect.ts).
    const starting = Array.from({ length: topology === 'cross' ? 3 : 1 }, () => startChild('service.ts', env));
    services.push(...(await allOrRelease(starting, (s) => s.stop())));
    const committer = services[0] as ChildServer;
    const holders = topology === 'cross' ? services.slice(1) : [committer];
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
    const processes = clients.flatMap((c) => c.processes);

    // Warm up (JIT, pools), then the measured load.
    await committer.call('churn', { ids, rate, seconds: ctx.quick ? 0.3 : 1, prefix: 'warm-' });
    await Promise.all(processes.map((p) => p.call('arrivals', 'load-')));
    const committed = await committer.call<Record<string, number>>('churn', { ids, rate, seconds, prefix: 'load-' });
    const { __rate: reached = 0, ...changes } = committed;
    const expected = (Object.keys(changes).length * perReplica * 2) / ROOMS;
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
    ctx.log(
      `replicas (${topology}): ${reached.toFixed(0)} of ${rate} changes/s asked, ${latencies.length} of ${expected} deliveries`,
    );
    return {
      asked: rate,
      rate: reached,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      deliveries: latencies.length,
      missing: expected - latencies.length,
    };
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    await Promise.all(services.map((s) => s.stop()));
    await database.drop();
  }
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
