import { and, asc, eq, gt, inArray, isNotNull, isNull, lte, or, sql } from 'drizzle-orm';
import { polledStatuses, type StreamKind } from '../../domain/status.js';
import { claimedColumns, toPollClaims } from '../mappers.js';
import type { PollClaim, PollClaimRequest } from '../types.js';
import { type StreamTable, TABLES } from './records.js';
import type { Executor } from './transactions.js';

/**
 * The poll schedule on PostgreSQL, shared by every replica. A claim is one statement:
 * UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) RETURNING, so two replicas
 * claiming at once take different streams (a row one of them is taking is skipped by the other,
 * and the outer WHERE re-checks the lease), and never both hold one stream.
 */
export class PgPolls {
  constructor(private readonly x: () => Executor) {}

  async claimDue(kind: StreamKind, claim: PollClaimRequest): Promise<PollClaim[]> {
    if (claim.limit <= 0 || claim.providers?.length === 0) return [];
    const t: StreamTable = TABLES[kind];
    const due = and(
      inArray(t.status, polled(kind)),
      lte(t.nextPollAt, claim.now),
      or(isNull(t.pollLeaseUntil), lte(t.pollLeaseUntil, claim.now)),
      claim.providers ? inArray(t.provider, [...claim.providers]) : undefined,
    );
    const db = this.x();
    const candidates = db
      .select({ id: t.id })
      .from(t)
      .where(due)
      .orderBy(asc(t.nextPollAt))
      .limit(claim.limit)
      .for('update', { skipLocked: true });
    const rows = await db
      .update(t)
      .set({ pollLeaseOwner: claim.owner, pollLeaseUntil: claim.leaseUntil })
      .where(and(inArray(t.id, candidates), due))
      .returning(claimedColumns(t));
    return toPollClaims(kind, rows);
  }

  async finish(kind: StreamKind, id: string, owner: string, next: { at: Date; intervalMs: number }): Promise<boolean> {
    const t: StreamTable = TABLES[kind];
    // One statement: a stream that became final meanwhile drops out of the schedule.
    const stillPolled = inArray(t.status, polled(kind));
    const result = await this.x()
      .update(t)
      .set({
        nextPollAt: sql`case when ${stillPolled} then ${next.at.toISOString()}::timestamptz end`,
        pollIntervalMs: sql`case when ${stillPolled} then ${next.intervalMs}::integer end`,
        pollLeaseOwner: null,
        pollLeaseUntil: null,
      })
      .where(and(eq(t.id, id), eq(t.pollLeaseOwner, owner)));
    return (result.rowCount ?? 0) > 0;
  }

  async resume(kind: StreamKind, now: Date, intervalMs: number): Promise<number> {
    const t: StreamTable = TABLES[kind];
    const result = await this.x()
      .update(t)
      .set({ nextPollAt: now, pollIntervalMs: intervalMs })
      .where(and(inArray(t.status, polled(kind)), or(isNull(t.nextPollAt), gt(t.nextPollAt, now))));
    return result.rowCount ?? 0;
  }

  async nextDue(kind: StreamKind, now: Date): Promise<Date | null> {
    const t: StreamTable = TABLES[kind];
    const rows = await this.x()
      .select({ at: t.nextPollAt })
      .from(t)
      .where(
        and(
          isNotNull(t.nextPollAt),
          inArray(t.status, polled(kind)),
          or(isNull(t.pollLeaseUntil), lte(t.pollLeaseUntil, now)),
        ),
      )
      .orderBy(asc(t.nextPollAt))
      .limit(1);
    return rows[0]?.at ?? null;
  }

  async releaseLeases(owner: string): Promise<number> {
    let released = 0;
    for (const t of Object.values(TABLES) as StreamTable[]) {
      const result = await this.x()
        .update(t)
        .set({ pollLeaseOwner: null, pollLeaseUntil: null })
        .where(eq(t.pollLeaseOwner, owner));
      released += result.rowCount ?? 0;
    }
    return released;
  }
}

/** Statuses the poller watches: every one that is not final. */
function polled(kind: StreamKind): string[] {
  return [...polledStatuses(kind)];
}
