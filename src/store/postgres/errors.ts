import { StoreUnavailableError } from '../../domain/errors.js';

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND']);
const CONNECTION_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'connection error',
  'not queryable',
];

/**
 * True when `error` (or what it wraps: drizzle wraps the driver's error) says the database could
 * not be reached or dropped the connection: a network error, SQLSTATE class 08 (connection
 * exception), a server shutting down or not accepting connections (57P01-57P03), or a statement
 * cancelled by `statement_timeout` (57014). Nothing of such a statement was committed.
 */
export function isUnreachable(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    if (current instanceof StoreUnavailableError) return true;
    if (typeof current !== 'object') return false;
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === 'string') {
      if (CONNECTION_CODES.has(code) || code.startsWith('08') || /^57P0[123]$/.test(code) || code === '57014') {
        return true;
      }
    }
    if (typeof message === 'string' && CONNECTION_MESSAGES.some((text) => message.includes(text))) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** A database that cannot be reached becomes StoreUnavailableError; every other error stays as it is. */
export function classify(error: unknown): unknown {
  if (error instanceof StoreUnavailableError) return error;
  return isUnreachable(error) ? new StoreUnavailableError({ cause: error }) : error;
}

/** True when `error` (or what it wraps) carries SQLSTATE `code`. */
function hasCode(error: unknown, code: string): boolean {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    if ((current as { code?: unknown }).code === code) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** PostgreSQL's unique violation (SQLSTATE 23505). */
export function isUniqueViolation(error: unknown): boolean {
  return hasCode(error, '23505');
}

/** PostgreSQL rolled the transaction back to break a deadlock (SQLSTATE 40P01). */
export function isDeadlock(error: unknown): boolean {
  return hasCode(error, '40P01');
}

/**
 * A row another transaction holds, found by a group commit's batched read (batch.ts): the error
 * FOR UPDATE NOWAIT raises (SQLSTATE 55P03, lock_not_available), which fails the group's member.
 */
export function rowHeld(what: string): Error {
  return Object.assign(new Error(`could not obtain lock on the row of the ${what}`), { code: '55P03' });
}
