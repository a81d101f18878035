import { GraphQLError } from 'graphql';
import { isFinal, type ProviderId, type StreamKind } from '../domain/status.js';
import type { RecordOf } from '../domain/types.js';
import { ChangeQueue, type StreamChange, topicFor } from '../events.js';
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
 *
 * One object per subscription (no generator, no closures): there may be tens of thousands open.
 */
class StreamWatch<K extends StreamKind> extends ChangeQueue<RecordOf<K>> {
  /** Last version handed out, for a subscription by id. */
  private version = 0;

  constructor(
    context: GraphQLContext,
    private readonly kind: K,
    private readonly id: string | null,
    topic: string,
  ) {
    // Listen first, then read the snapshot, in the same tick: nothing committed in between is missed.
    super(context.events, topic);
    if (!id || this.done) return;
    const current = context.store.streams.get(kind, id);
    if (!current) {
      this.fail(new GraphQLError(`No ${kind} with id ${id}`, { extensions: { code: 'NOT_FOUND' } }));
      return;
    }
    this.version = current.version;
    this.push(current);
    if (isFinal(kind, current.status)) this.complete();
  }

  override deliver(change: StreamChange): void {
    if (this.done) return;
    const stream = change.stream as RecordOf<K>;
    if (!this.id) {
      this.push(stream);
      return;
    }
    if (stream.version <= this.version) return;
    this.version = stream.version;
    this.push(stream);
    if (isFinal(this.kind, stream.status)) this.complete();
  }
}

export function watchStreams<K extends StreamKind>(
  context: GraphQLContext,
  kind: K,
  args: WatchArgs,
): AsyncIterableIterator<RecordOf<K>> {
  return new StreamWatch(context, kind, args.id ?? null, topicFor(kind, args));
}
