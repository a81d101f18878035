/**
 * What waits for commits that wrote change-log positions runs in position order within this
 * process. The change-log lock makes PostgreSQL commit them in position order, but the commit
 * acknowledgements of two connections may reach this process in either order: a transaction
 * whose position is higher than one still in flight here waits for it to settle (committed or
 * rolled back), so subscribers of this process are told changes in log order, as on SQLite.
 */
export class CommitOrder {
  /** Positions written by transactions that have not settled yet. */
  private readonly inFlight = new Set<number>();
  /** Committed transactions waiting for a lower position still in flight, by their highest position. */
  private readonly waiting: { position: number; committed: (() => void)[] }[] = [];

  begin(position: number): void {
    this.inFlight.add(position);
  }

  /** The transaction that wrote `positions` settled: `committed` (null on rollback) runs in its turn. */
  settle(positions: readonly number[], committed: (() => void)[] | null): void {
    for (const position of positions) this.inFlight.delete(position);
    if (committed && committed.length > 0) {
      this.waiting.push({ position: Math.max(...positions), committed });
      this.waiting.sort((a, b) => a.position - b.position);
    }
    let floor = Number.POSITIVE_INFINITY;
    for (const position of this.inFlight) floor = Math.min(floor, position);
    while (this.waiting.length > 0 && (this.waiting[0] as { position: number }).position < floor) {
      const next = this.waiting.shift() as { committed: (() => void)[] };
      try {
        flush(next.committed);
      } catch {
        // One subscriber's failure is its own: the others are still told.
      }
    }
  }
}

/** Committed: every waiting callback runs, even if one of them throws (the first error is rethrown). */
export function flush(committed: (() => void)[]): void {
  let failure: { error: unknown } | undefined;
  for (const run of committed) {
    try {
      run();
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}
