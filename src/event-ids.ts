import { encodeChangeCursor } from './domain/cursor.js';

/**
 * The SSE event id of each subscription result: the changeCursor of the change it shows. Tagged
 * where a change is executed into a result (subscription execution), read where results are
 * written as SSE events; results live no longer than their event, nor do their ids (a
 * non-enumerable property: JSON and spreads leave it out).
 */
const EVENT_POSITION = Symbol('eventPosition');
interface Tagged {
  [EVENT_POSITION]?: number;
}

/** Tags `result` with the position of `change`, when `change` is a stream's state (it has one). */
export function tagEventId(result: object, change: unknown): void {
  const position = (change as { changePosition?: unknown } | null)?.changePosition;
  // A property of the result rather than a WeakMap entry (a replay tags every change it sends);
  // the id is made when asked for (SSE, callbacks), which a WebSocket never does.
  if (typeof position === 'number' && position > 0 && Object.isExtensible(result)) {
    Object.defineProperty(result, EVENT_POSITION, { value: position });
  }
}

export function eventIdOf(result: object): string | undefined {
  const position = (result as Tagged)[EVENT_POSITION];
  return position === undefined ? undefined : encodeChangeCursor(position);
}
