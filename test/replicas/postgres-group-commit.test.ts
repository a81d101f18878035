import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../../src/store/postgres/store.js';
import { change, STREAM_AT, streamRow, type TwoReplicas, twoReplicas } from './stores.js';

/**
 * The PostgreSQL group commit (src/store/postgres/group.ts): concurrent `groupTransaction`s share
 * one transaction whose members run at once on a pipelined connection. What a caller observes:
 * each member is acknowledged only once durable, a failing member fails alone, members changing
 * one stream still make consecutive versions, publications follow the change log, and readers of
 * the change log on another connection never see a position before a smaller one.
 */

let replicas: TwoReplicas;
let one: PostgresStore;
let two: PostgresStore;
const at = STREAM_AT;
const stream = (id: string) => streamRow(id);

beforeAll(async () => {
  replicas = await twoReplicas();
  ({ one, two } = replicas);
});

afterAll(() => replicas?.close());

describe('PostgreSQL group commit', () => {
  it('acknowledges every other member, durably, when one fails in SQL and one throws', async () => {
    await one.streams.insert('livestream', stream('taken'));
    const ids = Array.from({ length: 12 }, (_, i) => `iso-${i}`);
    const results = await Promise.allSettled(
      ids.map((id, i) =>
        one.groupTransaction(async () => {
          await one.streams.insert('livestream', stream(id));
          // A primary key that exists: PostgreSQL aborts the shared transaction.
          if (i === 3) await one.streams.insert('livestream', stream('taken'));
          if (i === 8) throw new Error('member 8 gives up');
          return id;
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(ids.map((_, i) => (i === 3 || i === 8 ? 'rejected' : 'fulfilled')));
    expect(one.isUniqueViolation((results[3] as PromiseRejectedResult).reason)).toBe(true);
    expect(String((results[8] as PromiseRejectedResult).reason)).toContain('member 8 gives up');
    // Read through the other replica's pool: what was acknowledged is committed, the rest is not.
    const kept = (await two.streams.getMany('livestream', ids)).map((row) => row.id).sort();
    expect(kept).toEqual(ids.filter((_, i) => i !== 3 && i !== 8).sort());
  });

  it('gives members changing one stream consecutive versions, published in change-log order', async () => {
    await one.streams.insert('livestream', stream('shared'));
    const published: number[] = [];
    const versions = await Promise.all(
      Array.from({ length: 20 }, () => one.groupTransaction(() => change(one, 'shared', published))),
    );
    expect([...versions].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    expect((await two.streams.get('livestream', 'shared'))?.version).toBe(21);
    expect(published).toHaveLength(20);
    expect(published).toEqual([...published].sort((a, b) => a - b));
  });

  it('applies a vendor event seen before once, acknowledging the members beside it', async () => {
    await one.streams.insert('livestream', stream('seen'));
    const others = Array.from({ length: 8 }, (_, i) => `beside-${i}`);
    for (const id of others) await one.streams.insert('livestream', stream(id));
    expect(await one.transaction(() => change(one, 'seen', [], 'vendor-1'))).toBe(2);
    const published: number[] = [];
    const results = await Promise.all([
      ...others.map((id) => one.groupTransaction(() => change(one, id, published, `${id}-event`))),
      one.groupTransaction(() => change(one, 'seen', published, 'vendor-1')),
      one.groupTransaction(() => change(one, 'seen', published, 'vendor-2')),
    ]);
    expect(results.slice(0, others.length)).toEqual(others.map(() => 2));
    expect(results.slice(others.length)).toEqual([0, 3]);
    expect((await two.streams.get('livestream', 'seen'))?.version).toBe(3);
    const history = await two.history.listFor('livestream', ['seen'], 10);
    expect(history.map((event) => event.eventId)).toEqual(['vendor-1', 'vendor-2']);
    expect(published).toHaveLength(others.length + 1);
    expect(published).toEqual([...published].sort((a, b) => a - b));
  });

  it('records deliveries with the stream each names: a row shared by members is read as the earlier left it', async () => {
    await one.streams.insert('livestream', stream('found'));
    const delivery = (id: string) => ({
      provider: 'SANDBOX' as const,
      deliveryId: id,
      contentKey: null,
      eventType: 'test',
      receivedAt: at,
      processedAt: at,
    });
    const lookup = (externalId: string) => ({ kind: 'livestream' as const, provider: 'SANDBOX' as const, externalId });
    await one.transaction(async () => one.deliveries.recordFinding(delivery('found-0'), lookup('ext-found')));
    const published: number[] = [];
    const results = await Promise.all([
      ...Array.from({ length: 12 }, (_, i) =>
        one.groupTransaction(async () => {
          const recorded = await one.deliveries.recordFinding(delivery(`found-${i + 1}`), lookup('ext-found'));
          if (!recorded.stream) throw new Error('no stream found');
          const version = recorded.stream.version + 1;
          const position = await one.history.appendChange(
            {
              streamKind: 'livestream',
              streamId: recorded.stream.id,
              status: 'LIVE',
              vendorStatus: `v${version}`,
              source: 'WEBHOOK',
              version,
              applied: true,
              eventId: null,
              payload: null,
              snapshot: { ...recorded.stream, version, vendorStatus: `v${version}` },
              at,
            },
            { version, vendorStatus: `v${version}` },
          );
          one.afterCommit(() => published.push(position));
          return version;
        }),
      ),
      one.groupTransaction(async () => one.deliveries.recordFinding(delivery('found-0'), lookup('ext-found'))),
      one.groupTransaction(async () => one.deliveries.recordFinding(delivery('found-none'), lookup('ext-nobody'))),
    ]);
    const versions = results.slice(0, 12) as number[];
    expect([...versions].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 2));
    expect(results[12]).toEqual({ inserted: false, id: 0, stream: undefined });
    expect(results[13]).toMatchObject({ inserted: true, stream: undefined });
    const row = await two.streams.get('livestream', 'found');
    expect(row).toMatchObject({ version: 13, vendorStatus: 'v13', externalId: 'ext-found', createdAt: STREAM_AT });
    expect(published).toEqual([...published].sort((a, b) => a - b));
    expect(await two.deliveries.count('SANDBOX')).toBeGreaterThanOrEqual(14);
  });

  it('makes change-log positions visible in commit order to readers, across replicas and writers', async () => {
    const ids = Array.from({ length: 30 }, (_, i) => `order-${i}`);
    for (const id of ids) await one.streams.insert('livestream', stream(id));
    const start = await two.changes.head();
    let writing = true;
    const reads: number[][] = [];
    const reader = (async () => {
      while (writing) {
        const seen = await two.changes.after('livestream', {}, start, 10_000);
        reads.push(seen.map((entry) => entry.position));
      }
    })();
    // Grouped writers on both replicas, and plain transactions beside them, all at once.
    await Promise.all(
      ids.flatMap((id, i) => [
        (i % 2 ? one : two).groupTransaction(() => change(i % 2 ? one : two, id)),
        (i % 3 ? two : one).groupTransaction(() => change(i % 3 ? two : one, id)),
        one.transaction(() => change(one, id)),
      ]),
    );
    writing = false;
    await reader;
    const all = (await two.changes.after('livestream', {}, start, 10_000)).map((entry) => entry.position);
    expect(all).toHaveLength(ids.length * 3);
    // Every read is a prefix of the final log: no position seen before a smaller one committed.
    for (const read of reads) expect(read).toEqual(all.slice(0, read.length));
    for (const id of ids) expect((await one.streams.get('livestream', id))?.version).toBe(4);
  });
});
