import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChangeTailer } from '../../src/replicas/change-tailer.js';
import type { PostgresStore } from '../../src/store/postgres/store.js';
import { waitFor } from '../helpers.js';
import { streamRow, type TwoReplicas, twoReplicas, writeNextVersion } from './stores.js';

/**
 * The change-log tailer and this replica's own group commits (src/replicas/change-tailer.ts
 * `deliverLocal`): a group that took the change-log lock right after the last change the tailer
 * delivered hands its changes to the subscribers without the log being read back; anything else
 * (another replica's commit in between, a read in flight) is read from the log. What a subscriber
 * observes either way: every change once, in position order, none missing.
 */

let replicas: TwoReplicas;
let one: PostgresStore;
let two: PostgresStore;
let tailer: ChangeTailer | undefined;

beforeAll(async () => {
  replicas = await twoReplicas();
  ({ one, two } = replicas);
});

afterEach(async () => {
  await tailer?.stop();
  tailer = undefined;
});

afterAll(() => replicas?.close());

/** A tailer of replica `one` that polls only once a minute, and what it delivered (positions). */
async function startTailer(): Promise<{ tailer: ChangeTailer; delivered: number[] }> {
  const delivered: number[] = [];
  const started = new ChangeTailer(
    one,
    { publish: ({ stream }) => delivered.push(stream.changePosition) },
    null,
    pino({ level: 'silent' }),
    { pollMs: 60_000, pageSize: 500 },
  );
  await started.start();
  tailer = started;
  return { tailer: started, delivered };
}

/** Counts the tailer's reads of the log on `store` (its statement joins the livestreams for their key). */
function countReads(store: PostgresStore): { reads: () => number; stop: () => void } {
  let reads = 0;
  const stop = store.onStatement((sql) => {
    if (sql.includes('left join "livestreams"')) reads++;
  });
  return { reads: () => reads, stop };
}

/**
 * One applied change of stream `id` in a group commit of `store`, published to `to` once
 * committed, as the lifecycle publishes it (`before` runs first in that callback). Answers its position.
 */
function groupChange(store: PostgresStore, to: ChangeTailer, id: string, before = () => {}): Promise<number> {
  return store.groupTransaction(async () => {
    const current = await store.streams.get('livestream', id);
    if (!current) throw new Error(`no stream ${id}`);
    const { version, position } = await writeNextVersion(store, 'livestream', current);
    const stream = { ...current, version, vendorStatus: `v${version}`, changePosition: position };
    store.afterCommit(() => {
      before();
      to.publish({ kind: 'livestream', stream, created: false });
    });
    return position;
  });
}

async function insertStreams(prefix: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (const id of ids) await one.streams.insert('livestream', streamRow(id));
  return ids;
}

const sorted = (positions: number[]) => [...positions].sort((a, b) => a - b);

describe("change-log tailer and this replica's group commits", () => {
  it('delivers them in order, each once, without reading them back from the log', async () => {
    const ids = await insertStreams('own', 8);
    const { tailer, delivered } = await startTailer();
    const counter = countReads(one);
    try {
      const positions: number[] = [];
      for (let round = 0; round < 3; round++) {
        positions.push(...(await Promise.all(ids.map((id) => groupChange(one, tailer, id)))));
        await waitFor(() => delivered.length === positions.length);
      }
      expect(delivered).toEqual(sorted(positions));
      expect(counter.reads()).toBe(0);
      // Nothing but these changes reached the log: a read now finds nothing more.
      expect(await two.changes.tail(delivered.at(-1) ?? 0, 10)).toEqual([]);
    } finally {
      counter.stop();
    }
  });

  it("reads the log when another replica's commit came in between, and misses none of it", async () => {
    const ids = await insertStreams('between', 4);
    await two.streams.insert('livestream', streamRow('between-theirs'));
    const { tailer, delivered } = await startTailer();
    const counter = countReads(one);
    try {
      const first = await Promise.all(ids.map((id) => groupChange(one, tailer, id)));
      await waitFor(() => delivered.length === first.length);
      expect(counter.reads()).toBe(0);
      // Another replica commits; no signal reaches this tailer (no Redis), its poll is a minute away.
      const theirsStream = await two.streams.get('livestream', 'between-theirs');
      if (!theirsStream) throw new Error('gone');
      const { position: theirs } = await two.transaction(() => writeNextVersion(two, 'livestream', theirsStream));
      const second = await Promise.all(ids.map((id) => groupChange(one, tailer, id)));
      const all = sorted([...first, theirs, ...second]);
      await waitFor(() => delivered.length >= all.length);
      expect(delivered).toEqual(all);
      expect(counter.reads()).toBeGreaterThan(0);
      // Once caught up, the next group is delivered without a read again.
      const reads = counter.reads();
      const third = await Promise.all(ids.map((id) => groupChange(one, tailer, id)));
      await waitFor(() => delivered.length === all.length + third.length);
      expect(delivered).toEqual(sorted([...all, ...third]));
      expect(counter.reads()).toBe(reads);
    } finally {
      counter.stop();
    }
  });

  it('delivers a group committed while a read is in flight once, from the log', async () => {
    const ids = await insertStreams('inflight', 5);
    const { tailer, delivered } = await startTailer();
    const counter = countReads(one);
    try {
      // Each publication starts a read of the log first (as a signal or the poll would), in the
      // same turn: the group's changes are then read back, never handed over as well.
      const positions = await Promise.all(ids.map((id) => groupChange(one, tailer, id, () => tailer.wake())));
      await waitFor(() => delivered.length >= positions.length);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(delivered).toEqual(sorted(positions));
      expect(counter.reads()).toBeGreaterThan(0);
    } finally {
      counter.stop();
    }
  });

  it('skips the positions a rolled-back group burnt, delivering the next group without a read', async () => {
    const ids = await insertStreams('burnt', 6);
    const { tailer, delivered } = await startTailer();
    const counter = countReads(one);
    try {
      const before = await one.changes.head();
      const failing = one.groupTransaction(async () => {
        const current = await one.streams.get('livestream', 'burnt-0');
        if (!current) throw new Error('gone');
        await writeNextVersion(one, 'livestream', current);
        throw new Error('this member gives up after its change');
      });
      // Its group's changes are rolled back (their positions burnt); the others commit in a next group.
      const results = await Promise.allSettled([failing, ...ids.slice(1).map((id) => groupChange(one, tailer, id))]);
      expect(results[0]?.status).toBe('rejected');
      const positions = results.slice(1).map((r) => (r as PromiseFulfilledResult<number>).value);
      await waitFor(() => delivered.length === positions.length);
      expect(delivered).toEqual(sorted(positions));
      // Positions were burnt between the head before and these (the rolled-back group's).
      expect(Math.min(...positions)).toBeGreaterThan(before + 1);
      expect(counter.reads()).toBe(0);
      expect((await one.streams.get('livestream', 'burnt-0'))?.version).toBe(1);
    } finally {
      counter.stop();
    }
  });
});
