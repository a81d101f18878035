// `npx tsx bench/cost-webhooks.ts [seconds]`: what one 100ms webhook delivery costs the service on
// PostgreSQL, in the units that hold on a loaded machine (unlike deliveries/s): the service's CPU
// time, the CPU time of the PostgreSQL backends serving its database (walwriter and checkpointer
// aside), the statements it runs (store.onStatement: drizzle's and the group commit's own) and the
// transactions committed, each per delivery, under autocannon with 10 connections. `--rate=N`
// offers N deliveries a second instead of as many as answered (closed loop): two trees compared at
// one rate then make groups of one size, whatever the load of the machine does to their throughput.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import autocannon from 'autocannon';
import pg from 'pg';
import { createTestDatabase } from '../test/support/postgres.js';
import { backendsCpuMs } from './intake-cpu.js';
import { hmsDeliveryRequest, hmsIntakeEnv, startChild } from './lib.js';

const seconds = Number(process.argv[2] ?? 5);
const rateArg = process.argv.find((arg) => arg.startsWith('--rate='));
const rate = rateArg ? Number(rateArg.slice('--rate='.length)) : undefined;
const database = await createTestDatabase();
const service = await startChild('service.ts', hmsIntakeEnv(database.url));
async function commits(): Promise<number> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      'select xact_commit::text as n from pg_stat_database where datname = current_database()',
    );
    return Number(rows[0]?.n);
  } finally {
    await client.end();
  }
}

/**
 * The service's read and write system calls so far (`/proc/<pid>/io`): each socket write to
 * PostgreSQL wakes its backend, one of the largest items of the service's profile.
 */
function syscalls(pid: number | undefined): { reads: number; writes: number } {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? Number.NaN);
  return { reads: field('syscr'), writes: field('syscw') };
}

let n = 0;
const fire = (duration: number) =>
  autocannon({
    url: `http://127.0.0.1:${service.port}/webhooks/hms`,
    connections: 10,
    duration,
    ...(rate ? { overallRate: rate } : {}),
    requests: [hmsDeliveryRequest(() => n++)],
  });
try {
  await service.call('seed', { count: 40_000 });
  await fire(1); // warm-up: connections opened, statements prepared, code optimised
  const sampled = new Map<number, number>();
  const sample = () => {
    for (const [pid, ms] of backendsCpuMs(database.name)) sampled.set(pid, ms);
  };
  sample();
  const before = { backends: new Map(sampled), commits: await commits() };
  const ioBefore = syscalls(service.child.pid);
  const cpuBefore = await service.call<NodeJS.CpuUsage>('cpu-usage');
  await service.call('count-statements');
  const timer = setInterval(sample, 200);
  const generatorBefore = process.cpuUsage();
  const result = await fire(seconds);
  const generator = process.cpuUsage(generatorBefore);
  clearInterval(timer);
  sample();
  const cpuAfter = await service.call<NodeJS.CpuUsage>('cpu-usage');
  const ioAfter = syscalls(service.child.pid);
  const statements = await service.call<Record<string, number>>('count-statements');
  const statementCount = Object.values(statements).reduce((a, b) => a + b, 0);
  const deliveries = result['2xx'];
  let backendMs = 0;
  for (const [pid, ms] of sampled) backendMs += ms - (before.backends.get(pid) ?? 0);
  const serviceMs = (cpuAfter.user - cpuBefore.user + cpuAfter.system - cpuBefore.system) / 1000;
  const committed = (await commits()) - before.commits - 1; // the count query's own
  const generatorMs = (generator.user + generator.system) / 1000;
  const per = (value: number) => (value / deliveries).toFixed(3);
  // The three share the cores: their CPU per delivery bounds the rate (intake-cpu.ts).
  const ceiling = (availableParallelism() * 1000 * deliveries) / (serviceMs + backendMs + generatorMs);
  console.log(
    `${deliveries} deliveries in ${seconds} s (${(deliveries / seconds).toFixed(0)}/s, non-2xx ${result.non2xx}); ` +
      `per delivery: service CPU ${per(serviceMs)} ms, PostgreSQL backends CPU ${per(backendMs)} ms, ` +
      `autocannon CPU ${per(generatorMs)} ms (at most ${ceiling.toFixed(0)}/s on ${availableParallelism()} cores), ` +
      `statements ${per(statementCount)}, commits ${per(committed)}, ` +
      `service system calls: writes ${per(ioAfter.writes - ioBefore.writes)}, reads ${per(ioAfter.reads - ioBefore.reads)}`,
  );
  if (process.argv.includes('--statements')) {
    for (const [sql, count] of Object.entries(statements).sort((a, b) => b[1] - a[1])) {
      console.log(`  ${per(count).padStart(7)}  ${sql.replace(/\s+/g, ' ')}`);
    }
  }
} finally {
  await service.stop();
  await database.drop();
}
