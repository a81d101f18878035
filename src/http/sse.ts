import type { ServerResponse } from 'node:http';
import type { ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { Logger } from 'pino';
import { eventIdOf } from '../event-ids.js';

/** What a queued event is assumed to weigh until the response has written one. */
const MIN_EVENT_BYTES = 256;

/**
 * What the server holds for one SSE response: bytes written but not flushed, and events queued for
 * its subscription (counted by the subscription, as a WebSocket's are). Past `maxBytes` (the
 * WebSocket bound, WS_MAX_BUFFERED_BYTES) the client is a slow consumer: the response ends, and
 * the client resumes with the id of the last event it got.
 */
export class SseBacklog {
  private queuedEvents = 0;
  private eventBytes = MIN_EVENT_BYTES;

  constructor(
    private readonly res: ServerResponse,
    private readonly maxBytes: number,
    private readonly logger: Logger,
  ) {
    backlogs.set(res, this);
  }

  /** An event was queued for (or handed to) the subscription. */
  queued(delta: number): void {
    this.queuedEvents += delta;
    if (delta > 0) this.check();
  }

  /** An event of `bytes` is being written. */
  written(bytes: number): void {
    this.eventBytes = Math.max(MIN_EVENT_BYTES, (this.eventBytes * 7 + bytes) / 8);
    this.check();
  }

  private check(): void {
    const held = this.res.writableLength + this.queuedEvents * this.eventBytes;
    if (held <= this.maxBytes || this.res.destroyed) return;
    this.logger.info({ held }, 'SSE response ended: slow consumer');
    this.res.destroy();
  }
}

const backlogs = new WeakMap<ServerResponse, SseBacklog>();

type Stringified = ExecutionResult & { stringify?: (result: unknown) => string };

/**
 * SSE: every `next` event carries `id: <changeCursor>` of the change it shows, so a client that
 * reconnects (an EventSource does by itself) sends it back as `Last-Event-ID` and resumes there
 * (see schema/watch.ts). yoga writes each event as `data: <stringify(result)>`: the id line is
 * appended to the result's text, in the same event.
 */
export function useSseEventIds(): Plugin {
  return {
    onResultProcess({ request, result, setResult, serverContext }) {
      if (!isAsyncIterable(result) || !request.headers.get('accept')?.includes('text/event-stream')) return;
      const res = (serverContext as { res?: ServerResponse }).res;
      const backlog = res ? backlogs.get(res) : undefined;
      setResult(withEventIds(result as AsyncIterable<ExecutionResult>, backlog));
    },
  };
}

function withEventIds(
  results: AsyncIterable<ExecutionResult>,
  backlog: SseBacklog | undefined,
): AsyncIterableIterator<ExecutionResult> {
  const source = results[Symbol.asyncIterator]();
  return {
    next: () =>
      source.next().then((item) => (item.done ? item : { done: false, value: withEventId(item.value, backlog) })),
    return: () => source.return?.() ?? Promise.resolve({ done: true, value: undefined }),
    throw: (error) => source.throw?.(error) ?? Promise.reject(error),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

function withEventId(result: ExecutionResult, backlog: SseBacklog | undefined): ExecutionResult {
  const id = eventIdOf(result);
  if (id === undefined && !backlog) return result;
  // `data` read, not only spread: a replayed change's result keeps it behind a getter (fanout/result-text.ts).
  const tagged: Stringified = { ...result, data: result.data };
  // yoga calls it with a copy of the result (errors cleaned up): the copy never has this function.
  tagged.stringify = (value) => {
    const text = id === undefined ? JSON.stringify(value) : `${JSON.stringify(value)}\nid: ${id}`;
    backlog?.written(text.length);
    return text;
  };
  return tagged;
}
