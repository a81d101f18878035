import type { ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { eventIdOf } from '../event-ids.js';

type Stringified = ExecutionResult & { stringify?: (result: unknown) => string };

/**
 * SSE: every `next` event carries `id: <changeCursor>` of the change it shows, so a client that
 * reconnects (an EventSource does by itself) sends it back as `Last-Event-ID` and resumes there
 * (see schema/watch.ts). yoga writes each event as `data: <stringify(result)>`: the id line is
 * appended to the result's text, in the same event.
 */
export function useSseEventIds(): Plugin {
  return {
    onResultProcess({ request, result, setResult }) {
      if (!isAsyncIterable(result) || !request.headers.get('accept')?.includes('text/event-stream')) return;
      setResult(withEventIds(result as AsyncIterable<ExecutionResult>));
    },
  };
}

function withEventIds(results: AsyncIterable<ExecutionResult>): AsyncIterableIterator<ExecutionResult> {
  const source = results[Symbol.asyncIterator]();
  return {
    next: () => source.next().then((item) => (item.done ? item : { done: false, value: withEventId(item.value) })),
    return: () => source.return?.() ?? Promise.resolve({ done: true, value: undefined }),
    throw: (error) => source.throw?.(error) ?? Promise.reject(error),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

function withEventId(result: ExecutionResult): ExecutionResult {
  const id = eventIdOf(result);
  if (id === undefined) return result;
  const tagged: Stringified = { ...result };
  // yoga calls it with a copy of the result (errors cleaned up): the copy never has this function.
  tagged.stringify = (value) => `${JSON.stringify(value)}\nid: ${id}`;
  return tagged;
}
