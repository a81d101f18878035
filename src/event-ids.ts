import { encodeChangeCursor } from './domain/cursor.js';
import { positionOfTextResult, tagTextResult } from './fanout/result-text.js';
import { hiddenSlot } from './hidden.js';

/**
 * The SSE event id of each subscription result: the changeCursor of the change it shows. Tagged
 * where a change is executed into a result (subscription execution), read where results are
 * written as SSE events; results live no longer than their event, nor do their ids (kept with the
 * result, not as a property of it: JSON and spreads leave it out; see hidden.ts).
 */
const eventPositions = hiddenSlot<number>();

/** Tags `result` with the position of `change`, when `change` is a stream's state (it has one). */
export function tagEventId(result: object, change: unknown): void {
  const position = (change as { changePosition?: unknown } | null)?.changePosition;
  // Kept with the result rather than in a WeakMap (a replay tags every change it sends); the id
  // is made when asked for (SSE, callbacks), which a WebSocket never does.
  // A result made as text keeps it in a field of its own (fanout/result-text.ts).
  if (typeof position === 'number' && position > 0 && !tagTextResult(result, position)) {
    eventPositions.set(result, position);
  }
}

export function eventIdOf(result: object): string | undefined {
  const position = positionOfTextResult(result) ?? eventPositions.get(result);
  return position === undefined ? undefined : encodeChangeCursor(position);
}
