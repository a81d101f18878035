import { and, asc, count, eq, gt, inArray, isNull, lte, or } from 'drizzle-orm';
import { registrationRow, toRegistration } from '../mappers.js';
import type { CallbackRegistration } from '../types.js';
import { callbackSubscriptions as t } from './tables.js';
import type { Executor } from './transactions.js';

/**
 * callback_subscriptions on PostgreSQL: registrations of the HTTP callback protocol and their
 * leases, as on SQLite (sqlite/callbacks.ts). A claim skips rows another replica is claiming at
 * that moment (`FOR UPDATE SKIP LOCKED`), so two replicas never take the same registration.
 */
export class PgCallbacks {
  constructor(
    private readonly x: () => Executor,
    private readonly transaction: <T>(fn: () => Promise<T>) => Promise<T>,
  ) {}

  async add(registration: CallbackRegistration, owner: string, leaseUntil: Date): Promise<boolean> {
    const rows = await this.x()
      .insert(t)
      .values(registrationRow(registration, owner, leaseUntil))
      .onConflictDoNothing()
      .returning({ id: t.id });
    return rows.length > 0;
  }

  async claim(owner: string, now: Date, leaseUntil: Date, limit: number): Promise<CallbackRegistration[]> {
    if (limit <= 0) return [];
    const free = or(isNull(t.leaseUntil), lte(t.leaseUntil, now));
    const db = this.x();
    const candidates = db
      .select({ id: t.id })
      .from(t)
      .where(free)
      .orderBy(asc(t.createdAt))
      .limit(limit)
      .for('update', { skipLocked: true });
    const rows = await db
      .update(t)
      .set({ leaseOwner: owner, leaseUntil })
      .where(and(inArray(t.id, candidates), free))
      .returning();
    return rows.map(toRegistration);
  }

  renew(owner: string, now: Date, leaseUntil: Date, positions: ReadonlyMap<string, number>): Promise<Set<string>> {
    return this.transaction(async () => {
      await this.record(owner, positions);
      const held = await this.x()
        .update(t)
        .set({ leaseUntil })
        .where(and(eq(t.leaseOwner, owner), gt(t.leaseUntil, now)))
        .returning({ id: t.id });
      return new Set(held.map((row) => row.id));
    });
  }

  async remove(id: string): Promise<void> {
    await this.x().delete(t).where(eq(t.id, id));
  }

  release(owner: string, positions: ReadonlyMap<string, number>): Promise<number> {
    return this.transaction(async () => {
      await this.record(owner, positions);
      const rows = await this.x()
        .update(t)
        .set({ leaseOwner: null, leaseUntil: null })
        .where(eq(t.leaseOwner, owner))
        .returning({ id: t.id });
      return rows.length;
    });
  }

  async count(): Promise<number> {
    const rows = await this.x().select({ n: count() }).from(t);
    return Number(rows[0]?.n ?? 0);
  }

  private async record(owner: string, positions: ReadonlyMap<string, number>): Promise<void> {
    for (const [id, position] of positions) {
      await this.x()
        .update(t)
        .set({ position })
        .where(and(eq(t.id, id), eq(t.leaseOwner, owner)));
    }
  }
}
