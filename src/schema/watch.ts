import { GraphQLError } from 'graphql';
import { isFinal, type ProviderId, type StreamKind } from '../domain/status.js';
import type { RecordOf } from '../domain/types.js';
import { topicFor } from '../events.js';
import type { GraphQLContext } from './context.js';

export interface WatchArgs {
  id?: string | null;
  provider?: ProviderId | null;
  roomId?: string | null;
}

/**
 * The stream behind `livestreamChanged` / `recordingChanged`. With an id: the current state first,
 * then every newer version, ending after a final state. Without: every change on the topic the
 * filters name (a stream's creation included).
 */
export async function* watchStreams<K extends StreamKind>(
  context: GraphQLContext,
  kind: K,
  args: WatchArgs,
): AsyncGenerator<RecordOf<K>> {
  // Subscribe before reading the snapshot so nothing committed in between is missed.
  const changes = context.events.subscribe(topicFor(kind, args));
  try {
    if (!args.id) {
      for await (const change of changes) yield change.stream as RecordOf<K>;
      return;
    }
    const current = context.store.getStream(kind, args.id);
    if (!current) {
      throw new GraphQLError(`No ${kind} with id ${args.id}`, { extensions: { code: 'NOT_FOUND' } });
    }
    yield current;
    if (isFinal(kind, current.status)) return;
    let version = current.version;
    for await (const change of changes) {
      const stream = change.stream as RecordOf<K>;
      if (stream.version <= version) continue;
      version = stream.version;
      yield stream;
      if (isFinal(kind, stream.status)) return;
    }
  } finally {
    await changes.return?.();
  }
}
