import { storedRows, TEST_STORE } from '../helpers.js';

const DAY_MS = 86_400_000;

/** `column - <days>` in the engine's time type: epoch milliseconds on SQLite, timestamptz on PostgreSQL. */
function shifted(column: string, days: number): string {
  return TEST_STORE === 'postgres' ? `${column} - make_interval(days => ${days})` : `${column} - ${days * DAY_MS}`;
}

/**
 * Makes streams look `days` older in the service's real database (a SQLite file, or a PostgreSQL
 * database through a connection of its own), as if they had ended that long ago: their rows'
 * times and their history's times move back (nothing else changes).
 */
export async function age(
  dbPath: string,
  kind: 'livestream' | 'recording',
  ids: readonly string[],
  days: number,
): Promise<void> {
  const table = kind === 'livestream' ? 'livestreams' : 'recordings';
  const list = ids.map(() => '?').join(', ');
  const times = ['created_at', 'updated_at', 'started_at', 'stopped_at'].map((c) => `${c} = ${shifted(c, days)}`);
  await storedRows(dbPath, `update "${table}" set ${times.join(', ')} where id in (${list})`, [...ids]);
  await storedRows(
    dbPath,
    `update "status_events" set at = ${shifted('at', days)} where stream_kind = ? and stream_id in (${list})`,
    [kind, ...ids],
  );
}

/** Ages webhook deliveries received up to now by `days`. */
export async function ageDeliveries(dbPath: string, days: number): Promise<void> {
  await storedRows(
    dbPath,
    `update "webhook_deliveries" set received_at = ${shifted('received_at', days)}, ` +
      `processed_at = ${shifted('processed_at', days)}`,
  );
}

/** What one table row of history keeps: its status fields, and whether payload and snapshot are left. */
export interface StoredEvent {
  id: number;
  status: string;
  version: number;
  applied: number;
  payload: string | null;
  snapshot: string | null;
}

/** A stream's history rows as stored (times and booleans as SQLite gives them, whichever the engine). */
export function storedHistory(dbPath: string, streamId: string): Promise<StoredEvent[]> {
  return storedRows<StoredEvent>(
    dbPath,
    'select id, status, version, applied, payload, snapshot from status_events where stream_id = ? order by id',
    [streamId],
  );
}
