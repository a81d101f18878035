import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';

/** Two PostgreSQL stores (two pools, as two replicas have) on one fresh database. */
export interface TwoReplicas {
  one: PostgresStore;
  two: PostgresStore;
  close(): Promise<void>;
}

export function openStore(url: string): PostgresStore {
  const { database: config } = loadConfig({ DATABASE_URL: url });
  if (config.kind !== 'postgres') throw new Error('expected PostgreSQL');
  return new PostgresStore(config, pino({ level: 'silent' }));
}

export async function twoReplicas(): Promise<TwoReplicas> {
  const database: TestDatabase = await createTestDatabase();
  const one = openStore(database.url);
  const two = openStore(database.url);
  await Promise.all([one.open(), two.open()]);
  return {
    one,
    two,
    async close() {
      await one.close();
      await two.close();
      await database.drop();
    },
  };
}

export { STREAM_AT, streamRow } from '../support/rows.js';
