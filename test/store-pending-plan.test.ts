import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { tempDir } from './helpers.js';

/**
 * What a delivery for a stream this service does not know costs once deliveries wait for their
 * streams: each new vendor id seen looks its keys up among them, and each delivery left waiting
 * over WEBHOOK_PENDING_MAX gives up the oldest. Both must go through the pending indexes to the
 * rows they want: walking every waiting delivery (and sorting them by id, as the expiry did) made
 * each such delivery cost in proportion to how many wait (bench/README.md, "Pending deliveries
 * over the limit").
 */

let store: SqliteStore | undefined;
let dir: string | undefined;
afterEach(() => {
  store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** SQLite's plan of each statement `run` made the store send, asked of the same file. */
async function plansOf(file: string, s: SqliteStore, run: () => Promise<unknown>): Promise<string[]> {
  const statements: string[] = [];
  const stop = s.onStatement((sql) => statements.push(sql));
  await run();
  stop();
  expect(statements.length).toBeGreaterThan(0);
  const reader = new Database(file, { readonly: true });
  try {
    return statements.map((sql) => {
      const statement = reader.prepare(`explain query plan ${sql}`);
      const names = ['provider', 'keys', 'receivedAfter', 'limit', 'keep', 'at', 'before'];
      const parameters = sql.includes('@')
        ? Object.fromEntries(names.filter((name) => sql.includes(`@${name}`)).map((name) => [name, 1]))
        : Array.from({ length: (sql.match(/\?/g) ?? []).length }, () => 1);
      return statement
        .all(parameters)
        .map((row) => (row as { detail: string }).detail)
        .join(' | ');
    });
  } finally {
    reader.close();
  }
}

describe('the statements about waiting webhook deliveries', () => {
  it('look keys up in the pending-key index, and give up the oldest along the pending index, sorting nothing', async () => {
    dir = tempDir();
    const file = join(dir, 'pending.sqlite');
    store = new SqliteStore(file);
    const s = store;
    for (let i = 0; i < 50; i++) {
      const at = new Date(Date.now() - (50 - i) * 1000);
      const recorded = s.deliveries.record({
        provider: 'HMS',
        deliveryId: `d${i}`,
        contentKey: null,
        eventType: 'x',
        receivedAt: at,
        processedAt: at,
      });
      await s.deliveries.markPending((await recorded).id, '{}', `livestream:ext:${i}`);
    }

    const [lookup] = await plansOf(file, s, () =>
      s.deliveries.pendingFor('HMS', ['livestream:ext:3', 'livestream:room:r'], new Date(0), 100),
    );
    expect(lookup).toContain('USING INDEX webhook_deliveries_pending_key (provider=? AND correlation_key=?)');

    const [expiry] = await plansOf(file, s, () => s.deliveries.expirePending('HMS', new Date(0), 10, new Date()));
    // The rows given up: a range of the pending index, below the newest kept.
    expect(expiry).toMatch(
      /^SEARCH webhook_deliveries USING INDEX webhook_deliveries_pending \(provider=\? AND received_at<\?\)/,
    );
    expect(expiry).not.toContain('TEMP B-TREE');
    expect(expiry).not.toContain('LIST SUBQUERY');
  });
});
