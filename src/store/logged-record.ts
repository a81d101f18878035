import type { StreamKind } from '../domain/status.js';
import type { LivestreamRecord, RecordOf, StreamRecord } from '../domain/types.js';
import { ONE_READER, ROW_TEXT } from '../row-text.js';
import { fromRow, ROW_FIELDS, type StreamRow } from './rows.js';

/**
 * A stream's state at one change of the log, as the log read it: its row's JSON text, made the
 * record only when something reads a field other than `changePosition`. A replay hands out
 * thousands of them a second, and a subscription whose fields are all plain columns writes its
 * frames from the text (ROW_TEXT, fanout/event-plan.ts) and never needs the record: parsing
 * the snapshot and building the record were ≈ 1.1 µs of a change's ≈ 8 (bench/README.md,
 * "Catch-up: the splice path", 2026-12-05, late session).
 *
 * A Proxy, so that it is the record to whatever reads it: a resolver, a spread, JSON, key
 * listings, deep equality. Written to (nobody does), it is the record from then on and no longer
 * offers its text.
 */
class Unread {
  record: StreamRecord | undefined = undefined;

  constructor(
    readonly kind: StreamKind,
    readonly changePosition: number,
    readonly text: string,
    readonly streamKey: string | null,
    /** The text is `JSON.stringify`'s (a snapshot), which a frame may splice as it is. */
    public spliceable: boolean,
  ) {}
}

/** The record's fields, by kind: reading any of them makes the record. */
const FIELDS: Record<StreamKind, ReadonlySet<PropertyKey>> = {
  livestream: new Set(ROW_FIELDS),
  // A recording's row ends at the position.
  recording: new Set(ROW_FIELDS.slice(0, ROW_FIELDS.indexOf('changePosition') + 1)),
};

/**
 * The state of `kind` at `position` from its row's JSON text, made at once, and the current
 * ingest stream key (history never keeps it).
 */
export function recordFromText<K extends StreamKind>(
  kind: K,
  position: number,
  text: string,
  streamKey: string | null,
): RecordOf<K> {
  const record = fromRow(kind, JSON.parse(text) as StreamRow);
  record.changePosition = position;
  if (kind === 'livestream') (record as LivestreamRecord).ingestStreamKey = streamKey;
  return record;
}

function recordOf(unread: Unread): StreamRecord {
  unread.record ??= recordFromText(unread.kind, unread.changePosition, unread.text, unread.streamKey);
  return unread.record;
}

const handler: ProxyHandler<Unread> = {
  get(unread, key) {
    if (key === ROW_TEXT) return unread.spliceable ? unread.text : undefined;
    if (key === ONE_READER) return true;
    const record = unread.record;
    if (record !== undefined) return Reflect.get(record, key);
    if (key === 'changePosition') return unread.changePosition;
    // Not a field (`then`, `toJSON`, `constructor`…): what a plain object answers, without the record.
    if (!FIELDS[unread.kind].has(key)) return Reflect.get(Object.prototype, key);
    return Reflect.get(recordOf(unread), key);
  },
  set(unread, key, value) {
    unread.spliceable = false;
    return Reflect.set(recordOf(unread), key, value);
  },
  has: (unread, key) => Reflect.has(recordOf(unread), key),
  ownKeys: (unread) => Reflect.ownKeys(recordOf(unread)),
  getOwnPropertyDescriptor: (unread, key) => Reflect.getOwnPropertyDescriptor(recordOf(unread), key),
  defineProperty(unread, key, descriptor) {
    unread.spliceable = false;
    return Reflect.defineProperty(recordOf(unread), key, descriptor);
  },
  deleteProperty(unread, key) {
    unread.spliceable = false;
    return Reflect.deleteProperty(recordOf(unread), key);
  },
  getPrototypeOf: () => Object.prototype,
};

/**
 * As `recordFromText`, made when first read: from a snapshot (`spliceable`) or a row put together
 * by SQL.
 */
export function loggedRecord<K extends StreamKind>(
  kind: K,
  position: number,
  text: string,
  streamKey: string | null,
  spliceable: boolean,
): RecordOf<K> {
  return new Proxy(new Unread(kind, position, text, streamKey, spliceable), handler) as unknown as RecordOf<K>;
}
