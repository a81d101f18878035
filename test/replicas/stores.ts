import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import type { NewStream } from '../../src/store/types.js';
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

export const STREAM_AT = new Date(Date.UTC(2026, 0, 1));

/** A SANDBOX stream row in room `room-<id>` with vendor id `ext-<id>`, due for a poll. */
export function streamRow(id: string, status = 'LIVE'): NewStream {
  return {
    id,
    provider: 'SANDBOX',
    roomId: `room-${id}`,
    externalId: `ext-${id}`,
    sessionId: null,
    status,
    vendorStatus: null,
    version: 1,
    failureReason: null,
    idempotencyKey: null,
    startedAt: null,
    stoppedAt: null,
    createdAt: STREAM_AT,
    updatedAt: STREAM_AT,
    nextPollAt: STREAM_AT,
    pollIntervalMs: 1000,
  };
}
