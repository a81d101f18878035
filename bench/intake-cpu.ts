import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { ChildServer } from './lib.js';

/** CPU time (ms) of every PostgreSQL backend connected to database `name`, by pid, from /proc. */
export function backendsCpuMs(name: string): Map<number, number> {
  const cpu = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.includes(` ${name} `)) continue;
      const fields = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      cpu.set(Number(entry), (Number(fields[11]) + Number(fields[12])) * 10); // USER_HZ is 100
    } catch {
      // gone meanwhile
    }
  }
  return cpu;
}

function usageMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}

/**
 * Where the CPU time of webhook intake on PostgreSQL goes, per delivery: the service, the
 * PostgreSQL backends serving its database, and the load generator (autocannon, in the calling
 * process). On a machine of few cores the three share them, so their sum bounds the rate: at
 * most cores × 1,000 / (sum in ms) deliveries a second, however the waits are arranged.
 */
export class IntakeCpu {
  private service = 0;
  private backends = 0;
  private generator = 0;
  private deliveries = 0;

  constructor(
    private readonly server: ChildServer,
    private readonly database: string,
  ) {}

  /** Runs `load` and adds what it cost and the deliveries it made (`delivered`) to the totals. */
  async measure<T>(load: () => Promise<T>, delivered: (result: T) => number): Promise<T> {
    const backends = backendsCpuMs(this.database);
    const service = await this.server.call<NodeJS.CpuUsage>('cpu-usage');
    const generator = process.cpuUsage();
    const result = await load();
    this.deliveries += delivered(result);
    this.generator += usageMs(process.cpuUsage(generator));
    this.service += usageMs(await this.server.call<NodeJS.CpuUsage>('cpu-usage')) - usageMs(service);
    for (const [pid, ms] of backendsCpuMs(this.database)) this.backends += ms - (backends.get(pid) ?? 0);
    return result;
  }

  /** Per delivery (ms), and the rate the machine's cores allow at that cost. */
  perDelivery(): { service: number; backends: number; generator: number; ceiling: number } {
    const per = (ms: number) => ms / Math.max(1, this.deliveries);
    const total = per(this.service) + per(this.backends) + per(this.generator);
    return {
      service: per(this.service),
      backends: per(this.backends),
      generator: per(this.generator),
      ceiling: total > 0 ? (availableParallelism() * 1000) / total : 0,
    };
  }

  /** The figure for a note: each part per delivery and the ceiling, against `baseline` (raw inserts/s). */
  describe(baseline: number): string {
    const { service, backends, generator, ceiling } = this.perDelivery();
    return (
      `CPU per delivery: service ${service.toFixed(3)} ms, PostgreSQL backends ${backends.toFixed(3)} ms, ` +
      `autocannon ${generator.toFixed(3)} ms: ${availableParallelism()} cores allow at most ` +
      `${ceiling.toFixed(0)} deliveries/s (${(ceiling / Math.max(1, baseline)).toFixed(2)}× the raw inserts)`
    );
  }
}
