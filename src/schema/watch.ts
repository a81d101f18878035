import { GraphQLError } from 'graphql';
import { decodeChangeCursor } from '../domain/cursor.js';
import { CursorExpiredError, type DomainError } from '../domain/errors.js';
import { isFinal, type ProviderId, type StreamKind } from '../domain/status.js';
import type { RecordOf } from '../domain/types.js';
import { type StreamChange, topicFor } from '../events.js';
import { ChangeQueue } from '../fanout/index.js';
import type { GraphQLContext } from './context.js';
import { alreadyFinal, ResumedWatch } from './resume.js';

export interface WatchArgs {
  id?: string | null;
  provider?: ProviderId | null;
  roomId?: string | null;
  /** A changeCursor: resume after it rather than start from now. */
  after?: string | null;
}

/**
 * The stream behind `livestreamChanged` / `recordingChanged`. With an id: the current state first,
 * then every newer version, ending after a final state. Without: every change on the topic the
 * filters name (a stream's creation included).
 *
 * One object per subscription (no generator, no closures): there may be tens of thousands open.
 */
class StreamWatch<K extends StreamKind> extends ChangeQueue<RecordOf<K>, StreamChange> {
  /** Last version handed out, for a subscription by id. */
  private version = 0;

  constructor(
    context: GraphQLContext,
    private readonly kind: K,
    private readonly id: string | null,
    topic: string,
  ) {
    // Listen first, then read the snapshot: nothing committed in between is missed (a change
    // delivered before the snapshot answers is newer than it, and the snapshot is then skipped).
    super(context.events, topic);
    this.countIn(context.backlog);
    if (!id || this.done) return;
    void this.snapshot(context, id);
  }

  private async snapshot(context: GraphQLContext, id: string): Promise<void> {
    let current: RecordOf<K> | undefined;
    try {
      current = await context.store.streams.get(this.kind, id);
    } catch (error) {
      this.fail(error);
      return;
    }
    if (this.done) return;
    // A change already delivered is newer than (or as new as) this snapshot.
    if (this.version > 0 && (!current || current.version <= this.version)) return;
    if (!current) {
      this.fail(new GraphQLError(`No ${this.kind} with id ${id}`, { extensions: { code: 'NOT_FOUND' } }));
      return;
    }
    this.version = current.version;
    this.push(current);
    if (isFinal(this.kind, current.status)) this.complete();
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

/**
 * The subscription of `livestreamChanged` / `recordingChanged`. With a cursor (`after`, or an SSE
 * client's `Last-Event-ID`, which is the later of the two): the changes after it, then live ones
 * (see ResumedWatch). A malformed cursor, an expired one or an unknown id is answered as the
 * subscription's error, before anything is sent.
 */
export async function watchStreams<K extends StreamKind>(
  context: GraphQLContext,
  kind: K,
  args: WatchArgs,
): Promise<AsyncIterableIterator<RecordOf<K>>> {
  const cursor = context.lastEventId ?? args.after ?? null;
  const id = args.id ?? null;
  if (cursor === null) return new StreamWatch(context, kind, id, topicFor(kind, args));
  let after: number;
  try {
    after = decodeChangeCursor(cursor);
  } catch (error) {
    throw asGraphQLError(error as DomainError);
  }
  if (await context.store.changes.isPruned(after)) throw asGraphQLError(new CursorExpiredError());
  if (id && (await alreadyFinal(context.store, kind, id, after))) return emptyWatch(context, kind, id);
  const filter = { id, provider: args.provider ?? null, roomId: args.roomId ?? null };
  return new ResumedWatch(context.store, context.events, kind, filter, after, topicFor(kind, args), context.backlog);
}

/** A domain error as a subscription answers it: a GraphQL error carrying its code. */
function asGraphQLError(error: DomainError): GraphQLError {
  return new GraphQLError(error.message, { extensions: { code: error.code } });
}

/** A subscription that completes at once, having nothing to hand out. */
function emptyWatch<K extends StreamKind>(
  context: GraphQLContext,
  kind: K,
  id: string,
): ChangeQueue<RecordOf<K>, StreamChange> {
  const watch = new ChangeQueue<RecordOf<K>, StreamChange>(context.events, topicFor(kind, { id }));
  void watch.return();
  return watch;
}
