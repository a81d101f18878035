import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import type { StreamKind } from '../../src/domain/status.js';
import type { StreamRecord } from '../../src/domain/types.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { createTestDatabase, type TestDatabase } from '../support/postgres.js';
import { STREAM_AT } from '../support/rows.js';

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

/** A webhook delivery of the sandbox vendor with id `id`, as the intake records it. */
export function delivery(id: string) {
  return {
    provider: 'SANDBOX' as const,
    deliveryId: id,
    contentKey: null,
    eventType: 'test',
    receivedAt: STREAM_AT,
    processedAt: STREAM_AT,
  };
}

/**
 * Writes the next version of stream row `current` (of `kind`) as the lifecycle writes an applied change:
 * history and row in one write. Answers the version and its change-log position.
 */
export async function writeNextVersion(
  store: PostgresStore,
  kind: StreamKind,
  current: StreamRecord,
  eventId: string | null = null,
): Promise<{ version: number; position: number }> {
  const version = current.version + 1;
  const position = await store.history.appendChange(
    {
      streamKind: kind,
      streamId: current.id,
      status: 'LIVE',
      vendorStatus: `v${version}`,
      source: 'WEBHOOK',
      version,
      applied: true,
      eventId,
      payload: null,
      snapshot: { ...current, version, vendorStatus: `v${version}` },
      at: STREAM_AT,
    },
    { version, vendorStatus: `v${version}` },
  );
  return { version, position };
}

/**
 * One applied change of stream `id` as the lifecycle writes it: read (locked), the vendor's event
 * id checked unless none, history and row in one write. Answers the version made (0: a duplicate).
 */
export async function change(
  store: PostgresStore,
  id: string,
  published: number[] = [],
  eventId: string | null = null,
): Promise<number> {
  const current = await store.streams.get('livestream', id);
  if (!current) throw new Error(`no stream ${id}`);
  if (eventId && (await store.history.has('livestream', id, eventId))) return 0;
  const { version, position } = await writeNextVersion(store, 'livestream', current, eventId);
  store.afterCommit(() => published.push(position));
  return version;
}
