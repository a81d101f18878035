import DataLoader from 'dataloader';
import type { StreamKind } from '../domain/status.js';
import type {
  LivestreamRecord,
  RecordingAssetRecord,
  RecordingRecord,
  RoomAutomationRecord,
  StatusEventRecord,
} from '../domain/types.js';
import type { StreamEvents } from '../events.js';
import type { ProviderRegistry } from '../providers/index.js';
import type { AutomationService } from '../service/automation.js';
import type { StreamService } from '../service/streams.js';
import type { Store } from '../store/store.js';

/** Long-lived services every request shares. */
export interface AppServices {
  store: Store;
  events: StreamEvents;
  providers: ProviderRegistry;
  streams: StreamService;
  automation: AutomationService;
}

export interface GraphQLContext extends AppServices {
  loaders: Loaders;
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
export function createLoaders(store: Store) {
  const options = { cache: false };
  const byId = <T extends { id: string }>(load: (ids: readonly string[]) => T[]) =>
    new DataLoader<string, T | null>(async (ids) => {
      const rows = new Map(load(ids).map((row) => [row.id, row]));
      return ids.map((id) => rows.get(id) ?? null);
    }, options);
  const grouped = <T>(load: (keys: readonly string[]) => T[], key: (row: T) => string) =>
    new DataLoader<string, T[]>(async (keys) => {
      const groups = groupBy(load(keys), key);
      return keys.map((k) => groups.get(k) ?? []);
    }, options);
  const history = (kind: StreamKind) =>
    grouped<StatusEventRecord>(
      (ids) => store.eventsFor(kind, ids),
      (event) => event.streamId,
    );
  return {
    livestream: byId<LivestreamRecord>((ids) => store.getStreams('livestream', ids)),
    recording: byId<RecordingRecord>((ids) => store.getStreams('recording', ids)),
    livestreamHistory: history('livestream'),
    recordingHistory: history('recording'),
    assets: grouped<RecordingAssetRecord>(
      (ids) => store.assetsFor(ids),
      (asset) => asset.recordingId,
    ),
    roomLivestreams: grouped<LivestreamRecord>(
      (rooms) => store.listByRooms('livestream', rooms),
      (row) => row.roomId,
    ),
    roomRecordings: grouped<RecordingRecord>(
      (rooms) => store.listByRooms('recording', rooms),
      (row) => row.roomId,
    ),
    roomAutomation: grouped<RoomAutomationRecord>(
      (rooms) => store.automationsFor(rooms),
      (rule) => rule.roomId,
    ),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;

export function createContext(services: AppServices): GraphQLContext {
  // Loaders are made on first use: most subscription contexts never need them, and there may be
  // tens of thousands of those open at once.
  let loaders: Loaders | undefined;
  return {
    ...services,
    get loaders() {
      loaders ??= createLoaders(services.store);
      return loaders;
    },
  };
}
