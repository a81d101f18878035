import { ValidationError } from './errors.js';

/**
 * `changeCursor`: a position in the change log as an opaque string (clients never parse it).
 * Versioned, so the encoding can change while cursors already given out keep working.
 */
const PREFIX = 'v1:';
const MAX_CURSOR_LENGTH = 64;

export function encodeChangeCursor(position: number): string {
  return Buffer.from(`${PREFIX}${position}`).toString('base64url');
}

/** The position a cursor names; a string that is not one of ours is a `VALIDATION` error. */
export function decodeChangeCursor(cursor: string, field = 'after'): number {
  const text = cursor.length <= MAX_CURSOR_LENGTH ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const digits = text.startsWith(PREFIX) ? text.slice(PREFIX.length) : '';
  const position = /^(0|[1-9][0-9]{0,15})$/.test(digits) ? Number(digits) : Number.NaN;
  // base64url decoding skips characters outside its alphabet: only the canonical form is ours.
  if (!Number.isSafeInteger(position) || encodeChangeCursor(position) !== cursor) {
    throw new ValidationError(`${field} is not a change cursor this service gave out`, field);
  }
  return position;
}
