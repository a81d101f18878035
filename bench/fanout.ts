import { join } from 'node:path';
import { type BenchContext, type BenchResult, percentile, ratioResult, round, startChild, tempDir } from './lib.js';

const ROOMS = 100;

async function post(port: number, query: string, variables?: unknown) {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data: any };
}

/** Which subscription socket `j` opens: every tenth watches the hot stream by id, the rest a room. */
function subscriptionsFor(count: number, hotId: string) {
  const list: { query: string; variables?: Record<string, unknown> }[] = [];
  for (let j = 0; j < count; j++) {
    if (j % 10 === 0) {
      list.push({
        query: 'subscription($id: ID!) { livestreamChanged(id: $id) { id status vendorStatus version } }',
        variables: { id: hotId },
      });
    } else {
      list.push({
        query: 'subscription($room: String!) { livestreamChanged(roomId: $room) { id status vendorStatus version } }',
        variables: { room: `fan-${Math.floor(j / 10) % ROOMS}` },
      });
    }
  }
  return list;
}

/**
 * N graphql-ws subscribers, one socket each: 90% filtered by room over 100 rooms, 10% on one hot
 * stream by id. Time from one status change on the hot stream (in room fan-0) until every
 * concerned subscriber has it, against a bare `ws` server broadcasting the same bytes to as many
 * sockets out of N. Also server memory per idle subscriber after a forced GC.
 */
export async function fanOut(ctx: BenchContext): Promise<Record<string, BenchResult>> {
  const count = ctx.quick ? 2000 : 19_000;
  const rounds = ctx.quick ? 3 : 5;
  const concerned =
    Math.ceil(count / 10) +
    Array.from({ length: count }, (_, j) => j).filter((j) => j % 10 !== 0 && Math.floor(j / 10) % ROOMS === 0).length;

  // ── the service ──
  const service = await startChild('service.ts', {
    DATABASE_URL: join(tempDir(), 'fanout.sqlite'),
    SANDBOX_STEP_MS: '3600000',
    POLL_INTERVAL_MS: '3600000',
    MAX_SUBSCRIPTIONS_PER_CONNECTION: '10',
  });
  const ours: number[] = [];
  let ourMemory = 0;
  let sampleMessage = '';
  try {
    let hotId = '';
    for (let room = 0; room < ROOMS; room++) {
      const started = await post(
        service.port,
        'mutation($room: String!) { startLivestream(input: { roomId: $room }) { ... on StartLivestreamSuccess { livestream { id } } } }',
        { room: `fan-${room}` },
      );
      if (room === 0) hotId = started.data.startLivestream.livestream.id;
    }
    const before = await service.memory();
    const clients = await startChild('clients/fanout-client.ts');
    try {
      const began = Date.now();
      await clients.call('open', {
        url: `ws://127.0.0.1:${service.port}/graphql`,
        subscriptions: subscriptionsFor(count, hotId),
        count,
      });
      // Let every subscription register (id subscribers receive their snapshot first).
      for (let i = 0; i < 100 && (await service.call<number>('subscribers')) < count; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      ctx.log(`fan-out: ${count} subscribers open in ${((Date.now() - began) / 1000).toFixed(1)} s`);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const after = await service.memory();
      ourMemory = (after.heapUsed + after.external - (before.heapUsed + before.external)) / count;
      for (let r = 0; r < rounds; r++) {
        const marker = `bench-${r}-${Date.now()}`;
        const received = clients.call<number>('expect', { marker, count: concerned });
        await new Promise((resolve) => setTimeout(resolve, 100));
        const startedAt = await service.call<number>('touch', { id: hotId, marker });
        const last = await received;
        if (last < 0) throw new Error(`not every concerned subscriber got ${marker}`);
        ours.push(last - startedAt);
        sampleMessage ||= JSON.stringify({
          id: '1',
          type: 'next',
          payload: {
            data: { livestreamChanged: { id: hotId, status: 'STARTING', vendorStatus: marker, version: 99 } },
          },
        });
      }
      await clients.call('close');
    } finally {
      await clients.stop();
    }
  } finally {
    await service.stop();
  }

  // ── the bare baseline ──
  const bare = await startChild('bare-ws.ts');
  const bareTimes: number[] = [];
  let bareMemory = 0;
  try {
    const before = await bare.memory();
    const clients = await startChild('clients/fanout-client.ts');
    try {
      await clients.call('open', { url: `ws://127.0.0.1:${bare.port}`, subscriptions: null, count });
      await new Promise((resolve) => setTimeout(resolve, 500));
      const after = await bare.memory();
      bareMemory = (after.heapUsed + after.external - (before.heapUsed + before.external)) / count;
      for (let r = 0; r < rounds; r++) {
        const marker = `bench-${r}-${Date.now()}`;
        const received = clients.call<number>('expect', { marker, count: concerned });
        await new Promise((resolve) => setTimeout(resolve, 100));
        const startedAt = await bare.call<number>('broadcast', {
          bytes: sampleMessage.replace(/bench-[^"]+/, marker),
          count: concerned,
        });
        const last = await received;
        if (last < 0) throw new Error('bare broadcast did not reach every socket');
        bareTimes.push(last - startedAt);
      }
      await clients.call('close');
    } finally {
      await clients.stop();
    }
  } finally {
    await bare.stop();
  }

  const median = (values: number[]) => percentile(values, 50);
  ctx.log(
    `fan-out: change reaches ${concerned} of ${count} subscribers in ${median(ours).toFixed(1)} ms ` +
      `(bare ws ${median(bareTimes).toFixed(1)} ms); ${(ourMemory / 1024).toFixed(1)} KB per idle subscriber ` +
      `(bare ws ${(bareMemory / 1024).toFixed(1)} KB)`,
  );
  return {
    fanout_delivery_ms: ratioResult(
      median(ours),
      median(bareTimes),
      { atMost: 2 },
      {
        unit: 'ms',
        note: `${concerned} concerned of ${count} subscribers; median of ${rounds}`,
      },
    ),
    fanout_memory_per_subscriber_kb: {
      value: round(ourMemory / 1024),
      baseline: round(bareMemory / 1024),
      ratio: round(ourMemory / Math.max(1, bareMemory), 3),
      target: '<= 10 KB',
      pass: ourMemory / 1024 <= 10,
      unit: 'KB (heap + external, after GC)',
    },
  };
}
