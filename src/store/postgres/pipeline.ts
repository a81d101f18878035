import type { Writable } from 'node:stream';
import type pg from 'pg';

/** Per connection: statements scheduled to be issued later in this turn of the event loop (`issueSoon`). */
const scheduled = new WeakMap<pg.ClientBase, () => boolean>();

/**
 * On a pipelined connection (the group commit's), the statements issued within one turn of the
 * event loop leave in one socket write. node-postgres writes every statement on its own (it
 * corks the socket for the statement's few messages only); the members of a group issue theirs
 * in the same turn (their previous answers arrived together), and each write is a system call
 * that wakes the server's backend: on a loaded machine, the largest part of the service's own
 * CPU time in the intake's profile (bench/README.md, "PostgreSQL webhook intake", 2026-12-05).
 * The socket is corked at the first statement of a turn and uncorked once the turn's I/O is
 * handled (setImmediate), so nothing waits longer than the turn it was issued in; or one turn
 * more, once, when statements are about to be issued by callbacks queued behind the uncork in
 * the same turn (`issueSoon`: a group's BEGIN and lock, issued first, then wait for its members'
 * batched reads, one write instead of two: bench/README.md, "PostgreSQL intake, 2026-12-06,
 * late session").
 */
export function batchWritesPerTurn(client: pg.PoolClient): void {
  // node-postgres's connection and its socket are not in its types: a library seam.
  const stream = (client as unknown as { connection?: { stream?: Writable } }).connection?.stream;
  if (!stream || typeof stream.cork !== 'function') return;
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  let corked = false;
  let deferred = false;
  const uncork = () => {
    if (!deferred && scheduled.get(client)?.()) {
      deferred = true;
      setImmediate(uncork);
      return;
    }
    corked = false;
    deferred = false;
    stream.uncork();
  };
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    if (!corked) {
      corked = true;
      stream.cork();
      setImmediate(uncork);
    }
    return query(...args);
  };
}

/**
 * `pending` answers whether statements of `client` are scheduled to be issued from callbacks
 * already queued (setImmediate) in this turn: the turn's write then waits for them, once.
 */
export function issueSoon(client: pg.ClientBase, pending: () => boolean): void {
  scheduled.set(client, pending);
}
