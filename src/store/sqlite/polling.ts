import { and, asc, eq, gt, inArray, isNotNull, isNull, lte, or, type SQL, sql } from 'drizzle-orm';
import { polledStatuses as polled, type StreamKind } from '../../domain/status.js';
import { claimedColumns, toPollClaims } from '../mappers.js';
import type { PollClaim, PollClaimRequest } from '../types.js';
import type { Db } from './database.js';
import { type StreamTable, TABLES } from './rows.js';

/**
 * The poll schedule. A poller claims due streams atomically, reads them from the vendor, then
 * writes the next due time and releases the lease in one statement. Plain
 * UPDATE … WHERE id IN (SELECT … LIMIT n) … RETURNING, so a PostgreSQL store can mirror it (there
 * the outer WHERE re-checks the lease on rows another replica took meanwhile).
 */
export class SqlitePolls {
  constructor(
    private readonly db: Db,
    private readonly transaction: <T>(fn: () => T) => T,
  ) {}

  claimDue(kind: StreamKind, claim: PollClaimRequest): PollClaim[] {
    if (claim.limit <= 0 || claim.providers?.length === 0) return [];
    const t = TABLES[kind];
    const due = and(
      isPolled(t, kind),
      lte(t.nextPollAt, claim.now),
      or(isNull(t.pollLeaseUntil), lte(t.pollLeaseUntil, claim.now)),
      claim.providers ? inArray(t.provider, [...claim.providers]) : undefined,
    );
    const candidates = this.db.select({ id: t.id }).from(t).where(due).orderBy(asc(t.nextPollAt)).limit(claim.limit);
    // Most ticks find nothing due: answer that without taking the write lock.
    if (candidates.all().length === 0) return [];
    const rows = this.transaction(() =>
      this.db
        .update(t)
        .set({ pollLeaseOwner: claim.owner, pollLeaseUntil: claim.leaseUntil })
        .where(and(inArray(t.id, candidates), due))
        .returning(claimedColumns(t))
        .all(),
    );
    return toPollClaims(kind, rows);
  }

  finish(kind: StreamKind, id: string, owner: string, next: { at: Date; intervalMs: number }): boolean {
    const t = TABLES[kind];
    return this.transaction(() => {
      const row = this.db.select({ status: t.status }).from(t).where(eq(t.id, id)).get();
      const stillPolled = row !== undefined && polledStatuses(kind).includes(row.status);
      const result = this.db
        .update(t)
        .set({
          nextPollAt: stillPolled ? next.at : null,
          pollIntervalMs: stillPolled ? next.intervalMs : null,
          pollLeaseOwner: null,
          pollLeaseUntil: null,
        })
        .where(and(eq(t.id, id), eq(t.pollLeaseOwner, owner)))
        .run();
      return result.changes > 0;
    });
  }

  resume(kind: StreamKind, now: Date, intervalMs: number): number {
    const t = TABLES[kind];
    return this.transaction(
      () =>
        this.db
          .update(t)
          .set({ nextPollAt: now, pollIntervalMs: intervalMs })
          .where(and(inArray(t.status, polledStatuses(kind)), or(isNull(t.nextPollAt), gt(t.nextPollAt, now))))
          .run().changes,
    );
  }

  nextDue(kind: StreamKind, now: Date): Date | null {
    const t = TABLES[kind];
    // The first in due order: read along the next_poll_at index, it stops at the first free one.
    const row = this.db
      .select({ at: t.nextPollAt })
      .from(t)
      .where(and(isNotNull(t.nextPollAt), isPolled(t, kind), or(isNull(t.pollLeaseUntil), lte(t.pollLeaseUntil, now))))
      .orderBy(asc(t.nextPollAt))
      .limit(1)
      .get();
    return row?.at ?? null;
  }

  releaseLeases(owner: string): number {
    let released = 0;
    this.transaction(() => {
      for (const t of Object.values(TABLES)) {
        released += this.db
          .update(t)
          .set({ pollLeaseOwner: null, pollLeaseUntil: null })
          .where(eq(t.pollLeaseOwner, owner))
          .run().changes;
      }
    });
    return released;
  }
}

/** Statuses the poller watches: every one that is not final. */
function polledStatuses(kind: StreamKind): string[] {
  return [...polled(kind)];
}

/**
 * The stream is one the poller watches, as a condition the schedule's queries check row by row
 * (`+status`: unary plus keeps SQLite from reading them along the status index, which holds every
 * active stream, instead of the next_poll_at one, which finds what is due at once).
 */
function isPolled(t: StreamTable, kind: StreamKind): SQL {
  return inArray(sql`+${t.status}`, polledStatuses(kind));
}
