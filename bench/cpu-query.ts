// `npx tsx bench/cpu-query.ts [--against=<tree>[,<tree>]] [--together] [--rounds=5] [--requests=3000]`: the service's
// CPU time per `activeLivestreams` request (50 livestreams, bench/query.ts' query) next to the
// bare yoga's (bench/servers/bare-yoga.ts) answering the same JSON, read from /proc, in
// rounds of a fixed number of requests (autocannon, 20 connections). On a loaded machine req/s
// say little; CPU per request holds better. `--against`: another checkout (a tree with its own
// bench/servers/service.ts, e.g. a `git worktree` of main) measured in the same rounds.
// `--together`: each round loads every server at once (same window, same machine load: the
// per-round ratios hold where the load drifts between rounds); otherwise one after the other.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { type ChildServer, cliOptions, cpuMs, percentile, ROOT, type startChild, tempDir } from './lib.js';
import { QUERY } from './query.js';

const options = cliOptions();
const rounds = Number(options.get('rounds') ?? 5);
const requests = Number(options.get('requests') ?? 3000);
const together = options.has('together');
const trees = [
  ROOT,
  ...(options.get('against') ?? '')
    .split(',')
    .filter(Boolean)
    .map((tree) => resolve(tree)),
];

/** User + system CPU time (ms) of a process, its threads included. */
async function post(port: number, query: string, variables?: unknown) {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data: { activeLivestreams: unknown[] } };
}

async function startService(tree: string): Promise<ChildServer> {
  const lib: { startChild: typeof startChild } = await import(pathToFileURL(join(tree, 'bench', 'lib.ts')).href);
  const service = await lib.startChild('service.ts', {
    DATABASE_URL: join(tempDir(), 'cpu-query.sqlite'),
    SANDBOX_STEP_MS: '3600000',
    POLL_INTERVAL_MS: '3600000',
  });
  for (let i = 0; i < 50; i++) {
    await post(service.port, 'mutation($r: String!) { startLivestream(input: { roomId: $r }) { __typename } }', {
      r: `room-${i}`,
    });
  }
  return service;
}

/** CPU µs per request of one round of `requests` requests. */
async function round(server: ChildServer): Promise<number> {
  const pid = server.child.pid as number;
  const before = cpuMs(pid);
  const result = await autocannon({
    url: `http://127.0.0.1:${server.port}/graphql`,
    connections: 20,
    amount: requests,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: QUERY }),
  });
  if (result.non2xx || result.errors) throw new Error(`${result.non2xx} non-2xx, ${result.errors} errors`);
  return ((cpuMs(pid) - before) * 1000) / result.requests.total;
}

const { startChild: start } = await import('./lib.js');
const services = await Promise.all(trees.map(startService));
const bare = await start('bare-yoga.ts');
try {
  await bare.call('load', (await post(services[0]?.port as number, QUERY)).data.activeLivestreams);
  const servers = [...services, bare];
  const names = [...trees, 'bare yoga'];
  for (const server of servers) await round(server); // warm-up
  const figures: number[][] = servers.map(() => []);
  for (let r = 1; r <= rounds; r++) {
    const figuresOfRound: number[] = [];
    if (together) {
      // Started in a rotating order, so no server is always the first to get its load.
      const order = servers.map((_, i) => (i + r) % servers.length);
      const results = await Promise.all(order.map((i) => round(servers[i] as ChildServer)));
      for (const [k, i] of order.entries()) figuresOfRound[i] = results[k] as number;
    } else for (const server of servers) figuresOfRound.push(await round(server));
    for (const [i, us] of figuresOfRound.entries()) figures[i]?.push(us);
    console.log(`round ${r}: ${figuresOfRound.map(Math.round).join(' / ')} µs per request`);
  }
  const bareFigures = figures[servers.length - 1] ?? [];
  for (const [i, name] of names.entries()) {
    const own = figures[i] ?? [];
    const ratios = own.map((us, r) => (bareFigures[r] ?? 0) / us);
    console.log(
      `${name}: median ${Math.round(percentile(own, 50))} µs per request (${own.map(Math.round).join(', ')}); ` +
        `bare/this per round: median ${percentile(ratios, 50).toFixed(3)} (${ratios.map((x) => x.toFixed(2)).join(', ')})`,
    );
  }
  console.log(`load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
} finally {
  await Promise.all([...services, bare].map((server) => server.stop()));
}
