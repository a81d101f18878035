import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { encodeChangeCursor } from '../src/domain/cursor.js';
import {
  type BenchContext,
  type BenchResult,
  type ChildServer,
  ratioResult,
  round,
  startAhead,
  startChild,
  tempDir,
} from './lib.js';

const RESUME = `subscription($after: String) {
  livestreamChanged(roomId: "catch-up-room", after: $after) { id status vendorStatus version changeCursor }
}`;

/**
 * Subscribes `after` the cursor of `position` at `port` and resolves with the changes per second
 * received, from the first to the `count`th; `keep` gets each payload (for the bare server).
 */
async function replay(
  port: number,
  position: number,
  count: number,
  keep?: (payload: unknown) => void,
): Promise<number> {
  const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket });
  try {
    return await new Promise<number>((resolve, reject) => {
      let received = 0;
      let started = 0;
      client.subscribe(
        { query: RESUME, variables: { after: encodeChangeCursor(position) } },
        {
          next: (payload) => {
            if (received === 0) started = performance.now();
            received++;
            keep?.(payload);
            if (received === count) resolve((count - 1) / ((performance.now() - started) / 1000));
          },
          error: reject,
          complete: () => reject(new Error(`completed after ${received} of ${count} changes`)),
        },
      );
    });
  } finally {
    await client.dispose();
  }
}

/**
 * Catch-up: one graphql-ws subscriber resuming `after` a cursor 100,000 changes back (20,000 in
 * quick mode), in changes delivered per second until it has them all, against reading the same
 * rows (position, snapshot) of the same file with a plain SQL query from this process.
 *
 * Also, in the note: the same frames sent pre-built by a bare `ws` server
 * (catchup-bare-server.ts) to the same kind of client, which is as fast as that client can take
 * them on this machine, and the fraction of it the service reached.
 */
export async function catchUp(ctx: BenchContext): Promise<BenchResult> {
  const count = ctx.quick ? 20_000 : 100_000;
  const dir = tempDir();
  const databaseUrl = join(dir, 'bench.sqlite');
  // Quick mode starts the bare server beside the service (setup; it waits idle for its turn).
  const startBare = startAhead(ctx.quick, () => startChild('./catchup-bare-server.ts'));
  let service: ChildServer | undefined = await startChild('service.ts', {
    DATABASE_URL: databaseUrl,
    SANDBOX_STEP_MS: '3600000',
    POLL_INTERVAL_MS: '3600000',
  });
  let bare: ChildServer | undefined;
  try {
    const began = Date.now();
    const { position } = await service.call<{ id: string; position: number }>('changes', { count });
    ctx.log(`catch-up: ${count} changes committed in ${((Date.now() - began) / 1000).toFixed(1)} s`);

    const replayed = await replay(service.port, position, count);
    // The frames for the bare server, from a second replay, not measured: a client keeping every
    // payload it receives (100,000 objects, tens of MB its collector keeps tracing) is slower than
    // one that does not, and the measured replay's client is to do what the bare server's does.
    const payloads: unknown[] = [];
    await replay(service.port, position, count, (payload) => payloads.push(payload));
    await service.stop();
    service = undefined;

    const framesFile = join(dir, 'payloads.jsonl');
    writeFileSync(framesFile, `${payloads.map((payload) => JSON.stringify(payload)).join('\n')}\n`);
    payloads.length = 0;
    bare = await startBare();
    await bare.call('load', framesFile);
    const ceiling = await replay(bare.port, position, count);

    const db = new Database(databaseUrl, { readonly: true });
    // Along the positions (rowid), as SQLite reads them fastest: along the (stream_kind, …) index
    // it would sort every row first, a slower baseline.
    const read = db.prepare(
      'select id, snapshot from status_events where id > ? and applied = 1 and +stream_kind = ? order by id',
    );
    const startedRead = performance.now();
    const rows = read.all(position, 'livestream').length;
    const plain = rows / ((performance.now() - startedRead) / 1000);
    db.close();
    if (rows !== count) throw new Error(`the plain query read ${rows} rows, expected ${count}`);
    const share = ceiling === 0 ? 0 : replayed / ceiling;
    ctx.log(
      `catch-up: ${round(replayed, 0)} changes/s replayed, ${round(plain, 0)} rows/s read by a plain query, ` +
        `${round(ceiling, 0)} frames/s from a bare graphql-ws server (the service at ${round(share, 3)}x of it)`,
    );
    return ratioResult(
      replayed,
      plain,
      { atLeast: 0.5 },
      {
        unit: 'changes/s',
        note:
          `${count} changes; the same frames from a bare ws server (the client's ceiling): ` +
          `${round(ceiling, 0)}/s, the service at ${round(share, 3)}x of it`,
      },
    );
  } finally {
    await service?.stop();
    await bare?.stop();
  }
}
