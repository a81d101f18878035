import Database from 'better-sqlite3';

const DAY_MS = 86_400_000;

/**
 * Makes streams look `days` older in a real SQLite file, as if they had ended that long ago:
 * their rows' times and their history's times move back (nothing else changes).
 */
export function age(dbPath: string, kind: 'livestream' | 'recording', ids: readonly string[], days: number): void {
  const db = new Database(dbPath);
  try {
    const shift = days * DAY_MS;
    const table = kind === 'livestream' ? 'livestreams' : 'recordings';
    const list = JSON.stringify(ids);
    db.transaction(() => {
      db.prepare(
        `update "${table}" set created_at = created_at - @shift, updated_at = updated_at - @shift, ` +
          'started_at = started_at - @shift, stopped_at = stopped_at - @shift ' +
          'where id in (select value from json_each(@list))',
      ).run({ shift, list });
      db.prepare(
        'update "status_events" set at = at - @shift where stream_kind = @kind and stream_id in (select value from json_each(@list))',
      ).run({ shift, kind, list });
    })();
  } finally {
    db.close();
  }
}

/** Ages webhook deliveries received up to now by `days`. */
export function ageDeliveries(dbPath: string, days: number): void {
  const db = new Database(dbPath);
  try {
    db.prepare(
      'update "webhook_deliveries" set received_at = received_at - @shift, processed_at = processed_at - @shift',
    ).run({ shift: days * DAY_MS });
  } finally {
    db.close();
  }
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

export function storedHistory(dbPath: string, streamId: string): StoredEvent[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare(
        'select id, status, version, applied, payload, snapshot from status_events where stream_id = ? order by id',
      )
      .all(streamId) as StoredEvent[];
  } finally {
    db.close();
  }
}
