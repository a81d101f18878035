import type { StreamKind } from '../../domain/status.js';
import type { LivestreamRecord } from '../../domain/types.js';
import type { ChangeFilter, LoggedChange, TailedChange } from '../types.js';
import type { OpenedDatabase, Statement } from './database.js';
import { fromRow, RECORD_COLUMNS, type StreamRow, TABLE_NAMES } from './rows.js';

/**
 * A log row: position, the stream's row as JSON (its snapshot, else the current row with that
 * event's status), and the current ingest stream key (a livestream's; history never keeps it).
 */
type LogRow = [position: number, row: string, streamKey: string | null];

/** Columns of a record that a history row has too: a row without a snapshot takes the event's. */
const EVENT_COLUMNS = new Set(['status', 'vendor_status', 'version']);

/**
 * The change log on SQLite: the applied rows of status_events. With one writer per database,
 * autoincrement ids follow commit order, so a position is simply the row's id. Synchronous, as
 * every section: the store gives it its asynchronous face (ChangeLogStore).
 */
export class SqliteChangeLog {
  private readonly reads = new Map<string, Statement<LogRow>>();
  private latest?: Statement<number | null>;
  private watermark?: Statement<number>;

  constructor(private readonly opened: OpenedDatabase) {}

  private read(kind: StreamKind, filter: ChangeFilter): Statement<LogRow> {
    // By id, the stream's own events are found along (stream_kind, stream_id, …). Otherwise the
    // log is walked along its positions from `after` (`+` keeps SQLite off that index): along the
    // index it read every event of the kind, then sorted them, for each page of a replay, which
    // made a long catch-up quadratic (23 ms a page at 20,000 changes, against 1 ms; issue 17).
    const conditions = [
      filter.id ? 'e.stream_kind = @kind' : '+e.stream_kind = @kind',
      'e.applied = 1',
      'e.id > @after',
    ];
    if (filter.id) conditions.push('e.stream_id = @id');
    if (filter.provider) conditions.push('s.provider = @provider');
    if (filter.roomId) conditions.push('s.room_id = @roomId');
    const key = `${kind}:${conditions.join(' and ')}`;
    let statement = this.reads.get(key);
    if (!statement) {
      const streamKey = kind === 'livestream' ? 's.ingest_stream_key' : 'null';
      // Written before the change log kept snapshots: the current row with that event's status.
      const current = RECORD_COLUMNS[kind]
        .split(', ')
        .map((column) => (EVENT_COLUMNS.has(column) ? `e.${column}` : `s.${column}`))
        .join(', ');
      // Three columns, the row as one JSON text: each value a column gives is made a JS value by
      // better-sqlite3 (bench/README.md, "Catch-up", 2026-12-05 evening session).
      statement = this.opened.prepare<LogRow>(
        `select e.id, coalesce(e.snapshot, json_array(${current})), ${streamKey} ` +
          `from "status_events" e join "${TABLE_NAMES[kind]}" s on s.id = e.stream_id ` +
          `where ${conditions.join(' and ')} order by e.id limit @limit`,
        'arrays',
      );
      this.reads.set(key, statement);
    }
    return statement;
  }

  after<K extends StreamKind>(kind: K, filter: ChangeFilter, after: number, limit: number): LoggedChange<K>[] {
    const params: Record<string, unknown> = { kind, after, limit };
    if (filter.id) params.id = filter.id;
    if (filter.provider) params.provider = filter.provider;
    if (filter.roomId) params.roomId = filter.roomId;
    const rows = this.read(kind, filter).all(params);
    const changes: LoggedChange<K>[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i] as LogRow;
      const position = row[0];
      const stream = fromRow(kind, JSON.parse(row[1]) as StreamRow);
      stream.changePosition = position;
      if (kind === 'livestream') (stream as LivestreamRecord).ingestStreamKey = row[2];
      changes[i] = { position, stream };
    }
    return changes;
  }

  tail(after: number, limit: number): TailedChange[] {
    // Two reads in one process cost no round trip: each kind's page, merged by position, the
    // first `limit` kept (the rest is read again after the last one kept).
    const changes: TailedChange[] = [
      ...this.after('livestream', {}, after, limit).map((change) => ({ kind: 'livestream' as const, ...change })),
      ...this.after('recording', {}, after, limit).map((change) => ({ kind: 'recording' as const, ...change })),
    ];
    changes.sort((a, b) => a.position - b.position);
    return changes.length > limit ? changes.slice(0, limit) : changes;
  }

  isPruned(position: number): boolean {
    this.watermark ??= this.opened.prepare<number>('select position from "change_log_pruned" where id = 1', 'first');
    // Every position above the highest one pruned is whole; one below it may miss changes.
    return position < (this.watermark.get() ?? 0);
  }

  head(): number {
    // Read backwards along the rowid: the newest applied row is among the last few.
    this.latest ??= this.opened.prepare<number | null>(
      'select id from "status_events" where applied = 1 order by id desc limit 1',
      'first',
    );
    return this.latest.get() ?? 0;
  }
}
