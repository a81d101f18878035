import DataLoader from 'dataloader';
import type { Caller } from '../auth.js';
import type { StreamKind } from '../domain/status.js';
import type {
  LivestreamRecord,
  RecordingAssetRecord,
  RecordingRecord,
  RoomAutomationRecord,
  StatusEventRecord,
} from '../domain/types.js';
import type { StreamEvents } from '../events.js';
import type { Backlog } from '../fanout/index.js';
import type { ProviderRegistry } from '../providers/index.js';
import type { RecordingAssetService } from '../service/assets.js';
import type { AutomationService } from '../service/automation.js';
import type { StreamService } from '../service/streams.js';
import type { Store } from '../store/types.js';

/** Long-lived services every request shares. */
export interface AppServices {
  store: Store;
  events: StreamEvents;
  providers: ProviderRegistry;
  streams: StreamService;
  automation: AutomationService;
  assets: RecordingAssetService;
}

export interface GraphQLContext extends AppServices {
  loaders: Loaders;
  /** Who is asking: the schema's `authScopes` (builder.ts) decide from its roles. */
  caller: Caller;
  /** An SSE client's `Last-Event-ID` (the changeCursor of the last event it got): it resumes there. */
  lastEventId: string | null;
  /**
   * The connection's send backlog (a WebSocket's, or an SSE response's): a subscription counts
   * what it queues for the client there, so a slow consumer is closed (`WS_MAX_BUFFERED_BYTES`).
   */
  backlog?: Backlog;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/**
 * Batching: one database query per batch of keys (e.g. a whole `_entities` call). Loaders batch
 * but do not cache, because a subscription keeps its context for its whole life and must read
 * each event's data afresh.
 */
function byId<T extends { id: string }>(load: (ids: readonly string[]) => Promise<T[]>) {
  return new DataLoader<string, T | null>(
    async (ids) => {
      const rows = new Map((await load(ids)).map((row) => [row.id, row]));
      return ids.map((id) => rows.get(id) ?? null);
    },
    { cache: false },
  );
}

function grouped<T>(load: (keys: readonly string[]) => Promise<T[]>, key: (row: T) => string) {
  return new DataLoader<string, T[]>(
    async (keys) => {
      const groups = groupBy(await load(keys), key);
      return keys.map((k) => groups.get(k) ?? []);
    },
    { cache: false },
  );
}

const streamIdOf = (event: StatusEventRecord) => event.streamId;

/**
 * Each loader is made on first use. Most subscription contexts never need one, and there may be
 * tens of thousands of those open at once; yoga merges the context with `Object.assign`, which
 * would run a lazy getter on the context itself, so the laziness lives in this object instead.
 */
export class Loaders {
  /** The loaders made so far (one small object until the first is needed). */
  private lazy: {
    livestream?: DataLoader<string, LivestreamRecord | null>;
    recording?: DataLoader<string, RecordingRecord | null>;
    /** Per kind and `last`: one query per batch of streams asking for as many events. */
    history?: Map<string, DataLoader<string, StatusEventRecord[]>>;
    assets?: DataLoader<string, RecordingAssetRecord[]>;
    roomLivestreams?: DataLoader<string, LivestreamRecord[]>;
    roomRecordings?: DataLoader<string, RecordingRecord[]>;
    roomAutomation?: DataLoader<string, RoomAutomationRecord[]>;
    prunedThrough?: number | Promise<number>;
  } | null = null;

  constructor(private readonly store: Store) {}

  private get made() {
    this.lazy ??= {};
    return this.lazy;
  }

  get livestream() {
    const made = this.made;
    made.livestream ??= byId((ids) => this.store.streams.getMany('livestream', ids));
    return made.livestream;
  }
  get recording() {
    const made = this.made;
    made.recording ??= byId((ids) => this.store.streams.getMany('recording', ids));
    return made.recording;
  }
  /** The latest `last` events of each stream, oldest first. */
  history(kind: StreamKind, last: number): DataLoader<string, StatusEventRecord[]> {
    const made = this.made;
    made.history ??= new Map();
    const key = `${kind}:${last}`;
    let loader = made.history.get(key);
    if (!loader) {
      loader = grouped((ids) => this.store.history.listFor(kind, ids, last), streamIdOf);
      made.history.set(key, loader);
    }
    return loader;
  }
  get assets() {
    const made = this.made;
    made.assets ??= grouped(
      (ids) => this.store.assets.listFor(ids),
      (asset) => asset.recordingId,
    );
    return made.assets;
  }
  get roomLivestreams() {
    const made = this.made;
    made.roomLivestreams ??= grouped(
      (rooms) => this.store.streams.listByRooms('livestream', rooms),
      (row) => row.roomId,
    );
    return made.roomLivestreams;
  }
  get roomRecordings() {
    const made = this.made;
    made.roomRecordings ??= grouped(
      (rooms) => this.store.streams.listByRooms('recording', rooms),
      (row) => row.roomId,
    );
    return made.roomRecordings;
  }
  /**
   * The highest change-log position retention pruned, read once per context (a number once
   * read): a cursor given out is never below it, or a client re-reading an idle stream after
   * CURSOR_EXPIRED would get the same expired cursor again.
   */
  prunedThrough(): number | Promise<number> {
    const made = this.made;
    made.prunedThrough ??= this.store.retention.watermark().then((position) => {
      made.prunedThrough = position;
      return position;
    });
    return made.prunedThrough;
  }
  get roomAutomation() {
    const made = this.made;
    made.roomAutomation ??= grouped(
      (rooms) => this.store.rooms.automationsFor(rooms),
      (rule) => rule.roomId,
    );
    return made.roomAutomation;
  }
}

/** Whose idempotency keys a caller shares: its own (the JWT subject) when auth is on, everyone's in open mode. */
export function idempotencyScope(caller: Caller): string | null {
  return caller.authenticated ? (caller.subject ?? '') : null;
}

export function createContext(services: AppServices, caller: Caller): GraphQLContext {
  return { ...services, loaders: new Loaders(services.store), caller, lastEventId: null };
}
