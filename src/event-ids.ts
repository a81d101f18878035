import { encodeChangeCursor } from './domain/cursor.js';

/**
 * The SSE event id of each subscription result: the changeCursor of the change it shows. Tagged
 * where a change is executed into a result (subscription execution), read where results are
 * written as SSE events; results live no longer than their event, nor do their ids.
 */
const eventIds = new WeakMap<object, string>();

/** Tags `result` with the position of `change`, when `change` is a stream's state (it has one). */
export function tagEventId(result: object, change: unknown): void {
  const position = (change as { changePosition?: unknown } | null)?.changePosition;
  if (typeof position === 'number' && position > 0) eventIds.set(result, encodeChangeCursor(position));
}

export function eventIdOf(result: object): string | undefined {
  return eventIds.get(result);
}
