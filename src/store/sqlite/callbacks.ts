import { and, asc, count, eq, gt, inArray, isNull, lte, or } from 'drizzle-orm';
import { registrationRow, toRegistration } from '../mappers.js';
import { callbackSubscriptions as t } from '../tables.js';
import type { CallbackRegistration } from '../types.js';
import type { Db } from './database.js';

/** callback_subscriptions: registrations of the HTTP callback protocol and their leases. */
export class SqliteCallbacks {
  constructor(
    private readonly db: Db,
    private readonly transaction: <T>(fn: () => T) => T,
  ) {}

  add(registration: CallbackRegistration, owner: string, leaseUntil: Date): boolean {
    const result = this.db
      .insert(t)
      .values(registrationRow(registration, owner, leaseUntil))
      .onConflictDoNothing()
      .run();
    return result.changes > 0;
  }

  claim(owner: string, now: Date, leaseUntil: Date, limit: number): CallbackRegistration[] {
    if (limit <= 0) return [];
    const free = or(isNull(t.leaseUntil), lte(t.leaseUntil, now));
    const candidates = this.db.select({ id: t.id }).from(t).where(free).orderBy(asc(t.createdAt)).limit(limit);
    if (candidates.all().length === 0) return [];
    return this.transaction(() =>
      this.db
        .update(t)
        .set({ leaseOwner: owner, leaseUntil })
        .where(and(inArray(t.id, candidates), free))
        .returning()
        .all()
        .map(toRegistration),
    );
  }

  renew(owner: string, now: Date, leaseUntil: Date, positions: ReadonlyMap<string, number>): Set<string> {
    return this.transaction(() => {
      this.record(owner, positions);
      const held = this.db
        .update(t)
        .set({ leaseUntil })
        .where(and(eq(t.leaseOwner, owner), gt(t.leaseUntil, now)))
        .returning({ id: t.id })
        .all();
      return new Set(held.map((row) => row.id));
    });
  }

  remove(id: string): void {
    this.db.delete(t).where(eq(t.id, id)).run();
  }

  release(owner: string, positions: ReadonlyMap<string, number>): number {
    return this.transaction(() => {
      this.record(owner, positions);
      return this.db.update(t).set({ leaseOwner: null, leaseUntil: null }).where(eq(t.leaseOwner, owner)).run().changes;
    });
  }

  count(): number {
    return this.db.select({ n: count() }).from(t).get()?.n ?? 0;
  }

  private record(owner: string, positions: ReadonlyMap<string, number>): void {
    for (const [id, position] of positions) {
      this.db
        .update(t)
        .set({ position })
        .where(and(eq(t.id, id), eq(t.leaseOwner, owner)))
        .run();
    }
  }
}
