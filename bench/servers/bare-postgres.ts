// Baseline for webhook intake on PostgreSQL: raw durable single-row inserts (autocommit, the
// server's default synchronous_commit=on, so each one waits for its WAL flush), as many as fit in
// the given time: from one connection in a loop (the same definition as the SQLite baseline,
// bare-sqlite.ts), or from `connections` at once, whose commits PostgreSQL flushes together.
import pg from 'pg';

const url = process.env.BENCH_DATABASE_URL;
if (!url) throw new Error('BENCH_DATABASE_URL is required');
const pool = new pg.Pool({ connectionString: url, max: 10 });
await pool.query(
  'create table if not exists bare_deliveries (id bigserial primary key, delivery_id text not null unique, payload text not null)',
);
let sequence = 0;

async function insertFor(until: number, payload: string): Promise<number> {
  const client = await pool.connect();
  let n = 0;
  try {
    while (performance.now() < until) {
      await client.query({
        name: 'bare-insert',
        text: 'insert into bare_deliveries (delivery_id, payload) values ($1, $2)',
        values: [`bare-${sequence++}`, payload],
      });
      n++;
    }
  } finally {
    client.release();
  }
  return n;
}

process.send?.({ type: 'ready', port: 1 });
process.on('message', async (message: { type: string; id: number; command: string; args?: unknown }) => {
  if (message.type !== 'call') return;
  let result: unknown = null;
  if (message.command === 'inserts') {
    const {
      seconds,
      payload,
      connections = 1,
    } = message.args as {
      seconds: number;
      payload: string;
      connections?: number;
    };
    const began = performance.now();
    const until = began + seconds * 1000;
    const counts = await Promise.all(Array.from({ length: connections }, () => insertFor(until, payload)));
    result = counts.reduce((a, b) => a + b, 0) / ((performance.now() - began) / 1000);
  }
  process.send?.({ type: 'result', id: message.id, result });
});
process.once('SIGTERM', () => {
  pool.end().finally(() => process.exit(0));
});
