/** One attempt at a group commit: failed by any of its members, or by a transaction nested in one. */
export interface Attempt {
  failed: boolean;
}

/** A writer waiting for, or in, a group commit. */
interface Member {
  fn: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Runs `fn` in an outermost grouped transaction (transactions.ts): with `attempt`, as a group's
 * (transactions nested in it take no savepoint and fail the attempt), else as any transaction.
 */
type Outermost = (fn: () => Promise<unknown>, attempt?: Attempt) => Promise<unknown>;

/** Thrown inside a group's attempt to roll it back once a member failed (never seen outside). */
const MEMBER_FAILED = new Error('a member of the group commit failed');

/**
 * Group commit on SQLite: writers asked for in the same turn of the event loop share one
 * transaction and hear "done" once it has committed, so many concurrent writers (webhook
 * deliveries) pay for one durable commit (one fsync) instead of one each.
 *
 * The members run one after another, without a savepoint each, nor for the transactions nested in
 * them: a savepoint's statement journal copied every page a member first wrote in it, a page an
 * earlier member had written again for each later member, and SAVEPOINT and RELEASE are two
 * statements more a member (bench/README.md, "SQLite group commit without savepoints, 2026-12-06,
 * midday session"). So nothing of one member can roll back alone: when one fails (throws, or a
 * transaction nested in it does, even one it catches), the attempt rolls back whole, with what
 * waited for its commit; the failing member then runs alone in its own transaction (savepoints
 * there as in any), rejected only if it fails alone, and the others join the next group, as on
 * PostgreSQL (postgres/group.ts). A member runs again from its start: it keeps nothing of an
 * attempt but through `afterCommit`. A failure of the group's own (BEGIN, COMMIT, the log's
 * flush) fails every member: nothing of it is durable.
 *
 * The others go to the next group rather than each alone: a member that fails is rare, and each
 * alone would pay a durable commit each; the next group also takes in new writers. Each failure
 * takes its member out of the group, so a group runs at most once more per member that failed.
 */
export class GroupCommit {
  /** Writes waiting for the next group commit. */
  private readonly queue: Member[] = [];

  constructor(private readonly outermost: Outermost) {}

  /** True while writers wait for the next group. */
  get queued(): boolean {
    return this.queue.length > 0;
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const length = this.queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (length === 1) setImmediate(() => void this.commit());
    });
  }

  /** Members of a failed attempt join the next group, ahead of the writers waiting for it. */
  private requeue(members: Member[]): void {
    if (members.length === 0) return;
    const scheduled = this.queue.length > 0;
    this.queue.unshift(...members);
    if (!scheduled) setImmediate(() => void this.commit());
  }

  /** One group: never throws, settles every member it took (or hands it to the next group). */
  private async commit(): Promise<void> {
    const batch = this.queue.splice(0);
    const values: unknown[] = [];
    const attempt: Attempt = { failed: false };
    let failedAt = -1;
    try {
      await this.outermost(async () => {
        for (const [i, member] of batch.entries()) {
          let value: unknown;
          try {
            value = await member.fn();
          } catch {
            attempt.failed = true;
          }
          if (attempt.failed) {
            failedAt = i;
            throw MEMBER_FAILED;
          }
          values.push(value);
        }
      }, attempt);
    } catch (error) {
      const [failing] = failedAt >= 0 ? batch.splice(failedAt, 1) : [];
      if (!failing) {
        for (const member of batch) member.reject(error);
        return;
      }
      // Queued before the failing member asks for the connection: they commit after it.
      this.requeue(batch);
      try {
        failing.resolve(await this.outermost(failing.fn));
      } catch (alone) {
        failing.reject(alone);
      }
      return;
    }
    for (const [i, member] of batch.entries()) member.resolve(values[i]);
  }
}

/** A transaction nested in a group's member: no savepoint; its failure fails the attempt. */
export async function unguarded<T>(attempt: Attempt, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    attempt.failed = true;
    throw error;
  }
}

/** `unguarded` for a synchronous statement group (the store's own, run inside a `call`). */
export function unguardedSync<T>(attempt: Attempt, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    attempt.failed = true;
    throw error;
  }
}
