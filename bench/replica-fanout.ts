import { startRedisServer } from '../test/support/redis-server.js';
import {
  expectEverywhere,
  type FanOutClients,
  openClients,
  post,
  waitForSockets,
  waitForSubscriptions,
} from './fanout.js';
import {
  allOrRelease,
  type BenchContext,
  type BenchResult,
  benchDatabase,
  type ChildServer,
  percentile,
  ratioResult,
  setUpEach,
  startAhead,
  startChild,
} from './lib.js';

const REPLICAS = 3;
const WATCH_ID = 'subscription($id: ID!) { livestreamChanged(id: $id) { id status vendorStatus version } }';

/** Several FanOutClients (one set per server) seen as one, for `expectEverywhere`. */
function together(sets: FanOutClients[]): FanOutClients {
  const concerned = sets.flatMap((s) => s.concerned);
  return {
    processes: sets.flatMap((s) => s.processes),
    concerned,
    total: concerned.reduce((a, b) => a + b, 0),
    stop: async () => {
      await Promise.all(sets.map((s) => s.stop()));
    },
  };
}

/**
 * Fan-out across replicas (issue 17): three replicas on one PostgreSQL database and one Redis,
 * 15,000 graphql-ws subscribers on each (45,000 sockets), all watching one stream by id. Time from
 * one change committed through the first replica's intake until the last of the 45,000 has it,
 * against three bare `ws` servers broadcasting the same bytes to the same sockets (from the same
 * client processes), told to start at the same moment. Median of the rounds.
 */
export async function replicaFanOut(ctx: BenchContext): Promise<Record<string, BenchResult>> {
  const perReplica = ctx.quick ? 300 : 15_000;
  const rounds = ctx.quick ? 3 : 5;
  const count = perReplica * REPLICAS;
  // Quick mode starts the bare servers beside the replicas (setup; they wait idle for their turn).
  const startBare = startAhead(ctx.quick, () =>
    allOrRelease(
      Array.from({ length: REPLICAS }, () => startChild('bare-ws.ts')),
      (s) => s.stop(),
    ),
  );
  const redis = await startRedisServer();
  const database = await benchDatabase();
  const ours: number[] = [];
  let sample = '';
  try {
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      SANDBOX_STEP_MS: '3600000',
      POLL_INTERVAL_MS: '3600000',
    };
    const services: ChildServer[] = [];
    try {
      // Side by side: the first to take the migration lock applies the migrations, the others wait
      // for it and find nothing left to do (src/store/postgres/connect.ts).
      const starting = Array.from({ length: REPLICAS }, () => startChild('service.ts', env));
      services.push(...(await allOrRelease(starting, (s) => s.stop())));
      const committer = services[0] as ChildServer;
      const started = await post(
        committer.port,
        'mutation { startLivestream(input: { roomId: "replica-fanout" }) { ... on StartLivestreamSuccess { livestream { id } } } }',
      );
      const hotId = started.data.startLivestream.livestream.id as string;
      const sets: FanOutClients[] = [];
      try {
        const began = Date.now();
        // Quick mode opens the three replicas' sockets side by side (each replica accepts on a core).
        await setUpEach(
          ctx.quick,
          services,
          async (service) => {
            const own = await service.call<number>('subscribers');
            const set = await openClients(`ws://127.0.0.1:${service.port}/graphql`, perReplica, () => ({
              query: WATCH_ID,
              variables: { id: hotId },
              concerned: true,
            }));
            await waitForSubscriptions(service, own + perReplica);
            return set;
          },
          sets,
        );
        ctx.log(`replica fan-out: ${count} subscribers open in ${((Date.now() - began) / 1000).toFixed(1)} s`);
        const clients = together(sets);
        // One round to warm up (JIT, Redis connections), not counted.
        for (let r = -1; r < rounds; r++) {
          const marker = `bench-${r}-${Date.now()}`;
          const took = await expectEverywhere(
            clients,
            marker,
            () => committer.call<number>('touch', { id: hotId, marker }),
            ctx.quick,
          );
          if (r >= 0) ours.push(took);
          sample ||= JSON.stringify({
            id: '1',
            type: 'next',
            payload: {
              data: { livestreamChanged: { id: hotId, status: 'STARTING', vendorStatus: marker, version: 99 } },
            },
          });
        }
      } finally {
        await Promise.all(sets.map((s) => s.stop()));
      }
    } finally {
      await Promise.all(services.map((s) => s.stop()));
    }
  } finally {
    await database.drop();
    await redis.stop();
  }

  // ── baseline: three bare `ws` servers, the same sockets from the same clients, the same bytes ──
  const bare: number[] = [];
  const servers = await startBare();
  try {
    const sets: FanOutClients[] = [];
    try {
      // Quick mode opens them side by side, as it does the replicas' sockets.
      await setUpEach(
        ctx.quick,
        servers,
        (server) =>
          openClients(
            `ws://127.0.0.1:${server.port}`,
            perReplica,
            () => null,
            () => true,
          ),
        sets,
      );
      const clients = together(sets);
      // Quick mode fires without expectEverywhere's 100 ms pause: every socket named to its server first.
      if (ctx.quick) await Promise.all(servers.map((server) => waitForSockets(server, perReplica)));
      const everyone = Array.from({ length: perReplica }, (_, j) => j);
      for (let r = -1; r < rounds; r++) {
        const marker = `bench-${r}-${Date.now()}`;
        const bytes = sample.replace(/bench-[^"]+/, marker);
        const took = await expectEverywhere(
          clients,
          marker,
          async () => {
            const starts = await Promise.all(
              servers.map((s) => s.call<number>('broadcast', { bytes, sockets: everyone })),
            );
            return Math.min(...starts);
          },
          ctx.quick,
        );
        if (r >= 0) bare.push(took);
      }
    } finally {
      await Promise.all(sets.map((s) => s.stop()));
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }

  const median = (values: number[]) => percentile(values, 50);
  ctx.log(
    `replica fan-out: one change reaches ${count} subscribers on ${REPLICAS} replicas in ${median(ours).toFixed(1)} ms ` +
      `(three bare ws ${median(bare).toFixed(1)} ms)`,
  );
  return {
    replica_fanout_delivery_ms: ratioResult(
      median(ours),
      median(bare),
      { atMost: 2.5 },
      {
        unit: 'ms',
        note: `${REPLICAS} replicas × ${perReplica} subscribers by id, change committed on the first; median of ${rounds}; ours: ${ours.map((t) => t.toFixed(1)).join(', ')}; bare: ${bare.map((t) => t.toFixed(1)).join(', ')}`,
      },
    ),
  };
}
