// Baseline for webhook intake: raw better-sqlite3 durable single-row inserts (WAL,
// synchronous=FULL, one autocommit transaction per row), as many as fit in the given time.
import { join } from 'node:path';
import Database from 'better-sqlite3';

const dir = process.env.BENCH_DIR ?? '.';
const sqlite = new Database(join(dir, 'bare.sqlite'));
sqlite.pragma('journal_mode = WAL');
sqlite.pragma('synchronous = FULL');
sqlite.exec(
  'create table deliveries (id integer primary key, delivery_id text not null unique, payload text not null)',
);
const insert = sqlite.prepare('insert into deliveries (delivery_id, payload) values (?, ?)');
let sequence = 0;

process.send?.({ type: 'ready', port: 1 });
process.on('message', (message: { type: string; id: number; command: string; args?: unknown }) => {
  if (message.type !== 'call') return;
  let result: unknown = null;
  if (message.command === 'inserts') {
    const { seconds, payload } = message.args as { seconds: number; payload: string };
    const began = performance.now();
    let n = 0;
    while (performance.now() - began < seconds * 1000) {
      insert.run(`bare-${sequence++}`, payload);
      n++;
    }
    result = n / ((performance.now() - began) / 1000);
  }
  process.send?.({ type: 'result', id: message.id, result });
});
process.once('SIGTERM', () => {
  sqlite.close();
  process.exit(0);
});
