import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { encodeChangeCursor } from '../src/domain/cursor.js';
import { type BenchContext, type BenchResult, ratioResult, round, startChild, tempDir } from './lib.js';

const RESUME = `subscription($after: String) {
  livestreamChanged(roomId: "catch-up-room", after: $after) { id status vendorStatus version changeCursor }
}`;

/**
 * Catch-up: one graphql-ws subscriber resuming `after` a cursor 100,000 changes back (20,000 in
 * quick mode), in changes delivered per second until it has them all, against reading the same
 * rows (position, snapshot) of the same file with a plain SQL query from this process.
 */
export async function catchUp(ctx: BenchContext): Promise<BenchResult> {
  const count = ctx.quick ? 20_000 : 100_000;
  const databaseUrl = join(tempDir(), 'bench.sqlite');
  const service = await startChild('service.ts', {
    DATABASE_URL: databaseUrl,
    SANDBOX_STEP_MS: '3600000',
    POLL_INTERVAL_MS: '3600000',
  });
  try {
    const began = Date.now();
    const { position } = await service.call<{ id: string; position: number }>('changes', { count });
    ctx.log(`catch-up: ${count} changes committed in ${((Date.now() - began) / 1000).toFixed(1)} s`);

    const client = createClient({ url: `ws://127.0.0.1:${service.port}/graphql`, webSocketImpl: WebSocket });
    const replayed = await new Promise<number>((resolve, reject) => {
      let received = 0;
      let started = 0;
      client.subscribe(
        { query: RESUME, variables: { after: encodeChangeCursor(position) } },
        {
          next: () => {
            if (received === 0) started = performance.now();
            received++;
            if (received === count) resolve((count - 1) / ((performance.now() - started) / 1000));
          },
          error: reject,
          complete: () => reject(new Error(`completed after ${received} of ${count} changes`)),
        },
      );
    });
    await client.dispose();

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
    ctx.log(`catch-up: ${round(replayed, 0)} changes/s replayed, ${round(plain, 0)} rows/s read by a plain query`);
    return ratioResult(replayed, plain, { atLeast: 0.5 }, { unit: 'changes/s', note: `${count} changes` });
  } finally {
    await service.stop();
  }
}
