// `npx tsx bench/cost-pending.ts [--engine=sqlite|postgres] [--max=1000] [--seconds=3] [--rounds=3] [--profile] [--statements]`:
// what a 100ms delivery for a stream the service does not know costs once `WEBHOOK_PENDING_MAX`
// of them wait (each new one then gives up the oldest), against a delivery for a known stream, in
// alternating autocannon rounds (10 connections): deliveries/s and the service's CPU a delivery.
// Vendors send events for every meeting of the account, so a service sharing its vendor account
// with another environment takes such deliveries all day (README.md, "Webhooks"). `--profile`: a CPU
// profile of the service over one more round of unknown streams' deliveries, its path printed;
// `--statements`: the statements 1,000 more of them ran, by kind (their first 60 characters).
import { join } from 'node:path';
import autocannon from 'autocannon';
import { createTestDatabase } from '../test/support/postgres.js';
import { cliOptions, hmsDeliveryRequest, hmsIntakeEnv, startChild, tempDir } from './lib.js';

const options = cliOptions();
const engine = options.get('engine') === 'postgres' ? 'postgres' : 'sqlite';
const max = Number(options.get('max') ?? 1000);
const seconds = Number(options.get('seconds') ?? 3);
const rounds = Number(options.get('rounds') ?? 3);
const KNOWN = 200_000;

const dir = tempDir('livestream-pending-');
const database = engine === 'postgres' ? await createTestDatabase() : undefined;
const service = await startChild('service.ts', {
  ...hmsIntakeEnv(database?.url ?? join(dir, 'pending.sqlite')),
  WEBHOOK_PENDING_MAX: String(max),
  BENCH_RETENTION: 'off',
});
/** The service's CPU time so far, µs. */
async function cpuUs(): Promise<number> {
  const usage = await service.call<NodeJS.CpuUsage>('cpu-usage');
  return usage.user + usage.system;
}

try {
  await service.call('seed', { count: KNOWN, bulk: engine === 'postgres' });
  let known = 0;
  // Unknown streams: numbered past the seeded ones.
  let unknown = KNOWN;
  const round = async (which: 'known' | 'unknown', duration: number, amount?: number) => {
    const cpu = await cpuUs();
    const result = await autocannon({
      url: `http://127.0.0.1:${service.port}/webhooks/hms`,
      connections: 10,
      ...(amount ? { amount } : { duration }),
      requests: [hmsDeliveryRequest(() => (which === 'known' ? known++ : unknown++), which)],
    });
    if (result.errors || result.non2xx) throw new Error(`${which}: ${result.errors} errors, ${result.non2xx} non-2xx`);
    const done = result.requests.total;
    return { rate: result.requests.average, cpuUs: ((await cpuUs()) - cpu) / done };
  };
  // Fill the pending deliveries up to the limit (and warm both paths up).
  await round('unknown', 0, max);
  await round('known', 1);
  await round('unknown', 1);
  const rows: string[] = [];
  for (let r = 0; r < rounds; r++) {
    const a = await round('known', seconds);
    const b = await round('unknown', seconds);
    rows.push(
      `| ${r + 1} | ${a.rate.toFixed(0)}/s, ${a.cpuUs.toFixed(0)} µs | ${b.rate.toFixed(0)}/s, ${b.cpuUs.toFixed(0)} µs | ${(b.rate / a.rate).toFixed(2)}× |`,
    );
  }
  if (options.has('profile')) {
    await service.call('cpu-start');
    await round('unknown', seconds);
    console.log(`profile: ${await service.call<string>('cpu-stop', join(dir, 'unknown.cpuprofile'))}`);
  }
  if (options.has('statements')) {
    const before = await service.call<Record<string, number>>('count-statements');
    await round('unknown', 0, 1000);
    const after = await service.call<Record<string, number>>('count-statements');
    for (const [text, n] of Object.entries(after)) {
      const per = (n - (before[text] ?? 0)) / 1000;
      if (per > 0) console.log(`${per.toFixed(3)} a delivery: ${text.replace(/\s+/g, ' ')}`);
    }
  }
  console.log(`${engine}, WEBHOOK_PENDING_MAX=${max}: deliveries/s and service CPU a delivery`);
  console.log('| round | known stream | unknown stream, over the limit | unknown / known |\n|---|---|---|---|');
  console.log(rows.join('\n'));
} finally {
  await service.stop();
  await database?.drop();
}
