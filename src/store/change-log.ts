import type { ProviderId, StreamKind } from '../domain/status.js';
import type { RecordOf } from '../domain/types.js';

/** Which changes a resuming subscriber asked for (the filters of `livestreamChanged` / `recordingChanged`). */
export interface ChangeFilter {
  id?: string | null;
  provider?: ProviderId | null;
  roomId?: string | null;
}

/** One applied change as the log replays it: its position and the stream's state after it. */
export interface LoggedChange<K extends StreamKind> {
  position: number;
  stream: RecordOf<K>;
}
/**
 * A group commit of this process, as the change-log tailer hears it (`Store.onLocalCommit`). The
 * group held the change-log lock from before `head` was read to its commit, so the applied
 * positions after `head` up to its last are exactly `positions`: a tailer that has delivered up to
 * `head` may deliver the group's published changes without reading them back.
 */
export interface LocalCommit {
  /** The latest applied position committed when the group took the change-log lock (0 if none). */
  head: number;
  /** Every applied position the group wrote, in position order. */
  positions: readonly number[];
}

/** A change of either kind, as the change-log tailer reads them (`ChangeLogStore.tail`). */
export type TailedChange = { [K in StreamKind]: LoggedChange<K> & { kind: K } }[StreamKind];

/**
 * The change log: every applied change (the applied rows of history), by position. Position
 * logic (how positions are given, what is still kept) is the engine's own.
 */
export interface ChangeLogStore {
  /**
   * Up to `limit` applied changes of `kind` matching `filter` with a position above `after`, in
   * position order. Each stream's state is its snapshot at that change (the ingest stream key,
   * never kept in history, from the current row), made when first read (logged-record.ts).
   */
  after<K extends StreamKind>(kind: K, filter: ChangeFilter, after: number, limit: number): Promise<LoggedChange<K>[]>;
  /** Up to `limit` applied changes of both kinds after `after`, in position order (one read, not one a kind). */
  tail(after: number, limit: number): Promise<TailedChange[]>;
  /**
   * True when a change after `position` may have been pruned: a cursor older than what is kept.
   * Retention prunes selectively (old final streams only), so this compares with the highest
   * position it pruned (`RetentionStore.watermark`), not with the oldest row left.
   */
  isPruned(position: number): Promise<boolean>;
  /** The latest applied change's position now (0 if none): where a replica's tailer starts; later ones are higher. */
  head(): Promise<number>;
}
