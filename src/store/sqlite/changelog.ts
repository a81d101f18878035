import type { StreamKind } from '../../domain/status.js';
import { loggedRecord, recordFromText } from '../logged-record.js';
import type { ChangeFilter, LoggedChange, TailedChange } from '../types.js';
import type { OpenedDatabase, Statement } from './database.js';
import { RECORD_COLUMNS, TABLE_NAMES } from './rows.js';

/**
 * A log row as one text (a statement of one column, `pluck`): the position, U+001F, the stream's
 * row as JSON (its snapshot, else the current row with that event's status, after a space: see
 * `read`), then, for a livestream with one, U+001F and its current ingest stream key (history
 * never keeps it). JSON text never holds a raw U+001F (a string escapes every control character;
 * `JSON.stringify` and SQLite's `json_array` both do), so the first one after the position ends
 * the row, whatever the key holds. One value a row rather than an array of three: better-sqlite3
 * (on Node 20) fills each row's array one `Set` at a time through V8's API, ≈ 0.2 µs a row
 * (bench/README.md, "Catch-up", 2026-12-06, morning session).
 */
type LogRow = string;

const SEPARATOR = '\x1f';

/** Each log row's parts (see LogRow) made into what `make` makes of them, in order. */
function eachRow<T>(rows: LogRow[], make: (position: number, text: string, streamKey: string | null) => T): T[] {
  const made: T[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as LogRow;
    const afterPosition = row.indexOf(SEPARATOR);
    const afterText = row.indexOf(SEPARATOR, afterPosition + 1);
    let position = 0;
    for (let j = 0; j < afterPosition; j++) position = position * 10 + row.charCodeAt(j) - 48;
    made[i] =
      afterText === -1
        ? make(position, row.slice(afterPosition + 1), null)
        : make(position, row.slice(afterPosition + 1, afterText), row.slice(afterText + 1));
  }
  return made;
}

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

  private read(kind: StreamKind, filter: ChangeFilter, limit: number): Statement<LogRow> {
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
    // The limit is written into the SQL, not bound: SQLite's planner reads a bound LIMIT's value,
    // so binding one (even the same value again) made it prepare the statement anew on every read
    // (`sqlite3Reprepare`: parse and plan, ≈ 5% of a replay's CPU; bench/README.md, "Catch-up",
    // 2026-12-06, morning session). A page's size is one of a few constants.
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`invalid page size ${limit}`);
    const key = `${kind}:${limit}:${conditions.join(' and ')}`;
    let statement = this.reads.get(key);
    if (!statement) {
      const streamKey = kind === 'livestream' ? " || ifnull(char(31) || s.ingest_stream_key, '')" : '';
      // Written before the change log kept snapshots: the current row with that event's status.
      const current = RECORD_COLUMNS[kind]
        .split(', ')
        .map((column) => (EVENT_COLUMNS.has(column) ? `e.${column}` : `s.${column}`))
        .join(', ');
      // The row as one JSON text: each value a column gives is made a JS value by better-sqlite3
      // (bench/README.md, "Catch-up", 2026-12-05 evening session), and the three parts as one
      // text (LogRow). A row put together by `json_array` starts with a space (JSON allows it),
      // which tells it from a snapshot (`JSON.stringify`'s text, which a frame may splice:
      // logged-record.ts) without a column more.
      statement = this.opened.prepare<LogRow>(
        `select e.id || char(31) || coalesce(e.snapshot, ' ' || json_array(${current}))${streamKey} ` +
          `from "status_events" e join "${TABLE_NAMES[kind]}" s on s.id = e.stream_id ` +
          `where ${conditions.join(' and ')} order by e.id limit ${limit}`,
        'first',
      );
      this.reads.set(key, statement);
    }
    return statement;
  }

  /** Each change's record is made from its row's text when first read (logged-record.ts). */
  after<K extends StreamKind>(kind: K, filter: ChangeFilter, after: number, limit: number): LoggedChange<K>[] {
    return eachRow(this.rows(kind, filter, after, limit), (position, text, streamKey) => {
      const snapshot = text.charCodeAt(0) === 91; // `[`: not put together by SQL
      return { position, stream: loggedRecord(kind, position, text, streamKey, snapshot) };
    });
  }

  /** As `after`, each record made at once: the tailer publishes them to every live subscriber. */
  private records<K extends StreamKind>(kind: K, after: number, limit: number): LoggedChange<K>[] {
    return eachRow(this.rows(kind, {}, after, limit), (position, text, streamKey) => ({
      position,
      stream: recordFromText(kind, position, text, streamKey),
    }));
  }

  private rows(kind: StreamKind, filter: ChangeFilter, after: number, limit: number): LogRow[] {
    const params: Record<string, unknown> = { kind, after };
    if (filter.id) params.id = filter.id;
    if (filter.provider) params.provider = filter.provider;
    if (filter.roomId) params.roomId = filter.roomId;
    return this.read(kind, filter, limit).all(params);
  }

  tail(after: number, limit: number): TailedChange[] {
    // Two reads in one process cost no round trip: each kind's page, merged by position, the
    // first `limit` kept (the rest is read again after the last one kept).
    const changes: TailedChange[] = [
      ...this.records('livestream', after, limit).map((change) => ({ kind: 'livestream' as const, ...change })),
      ...this.records('recording', after, limit).map((change) => ({ kind: 'recording' as const, ...change })),
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
