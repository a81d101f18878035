import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamKind } from '../../src/domain/status.js';
import { ChangeTailer } from '../../src/replicas/change-tailer.js';
import type { PostgresStore } from '../../src/store/postgres/store.js';
import { waitFor } from '../helpers.js';
import { streamRow, type TwoReplicas, twoReplicas, writeNextVersion } from './stores.js';

/**
 * The change-log tailer without Redis: this replica's own commits wake a read at once, and a
 * change of the other kind another replica commits (no signal reaches this one) is still read,
 * however often this replica's own commits wake reads meanwhile.
 */

let replicas: TwoReplicas;
let one: PostgresStore;
let two: PostgresStore;

/** One applied change of stream `id`, committed: answers its position. */
async function change(store: PostgresStore, kind: StreamKind, id: string): Promise<number> {
  return store.transaction(async () => {
    const current = await store.streams.get(kind, id);
    if (!current) throw new Error(`no stream ${id}`);
    return (await writeNextVersion(store, kind, current)).position;
  });
}

beforeAll(async () => {
  replicas = await twoReplicas();
  ({ one, two } = replicas);
});

afterAll(() => replicas?.close());

describe('change-log tailer', () => {
  it("delivers another replica's change of the other kind while this replica keeps committing its own", async () => {
    await one.streams.insert('livestream', streamRow('mine'));
    await one.streams.insert('recording', streamRow('theirs'));
    const delivered: string[] = [];
    const tailer = new ChangeTailer(
      one,
      { publish: (c) => delivered.push(`${c.kind}:${c.stream.changePosition}`) },
      null,
      pino({ level: 'silent' }),
      { pollMs: 200, pageSize: 500 },
    );
    await tailer.start();
    try {
      const theirs = `recording:${await change(two, 'recording', 'theirs')}`;
      const mine: string[] = [];
      // Commits every few ms, each waking a read, until the recording is delivered.
      while (!delivered.includes(theirs) && mine.length < 500) {
        const position = await change(one, 'livestream', 'mine');
        const stream = await one.streams.get('livestream', 'mine');
        if (!stream) throw new Error('gone');
        tailer.publish({ kind: 'livestream', stream: { ...stream, changePosition: position }, created: false });
        mine.push(`livestream:${position}`);
      }
      expect(delivered).toContain(theirs);
      expect(mine.length).toBeLessThan(500);
      await waitFor(() => mine.every((p) => delivered.includes(p)));
      // Each change once, in position order per kind.
      expect(delivered.filter((p) => p.startsWith('livestream:'))).toEqual(mine);
      expect(delivered.filter((p) => p.startsWith('recording:'))).toEqual([theirs]);
    } finally {
      await tailer.stop();
    }
  });

  it('delivers changes of both kinds in position order across pages, each once, with the current ingest key', async () => {
    await two.streams.insert('livestream', streamRow('paged-live', { ingestStreamKey: 'key-paged' }));
    await two.streams.insert('recording', streamRow('paged-rec'));
    const delivered: { kind: string; position: number; version: number; key?: string | null }[] = [];
    const tailer = new ChangeTailer(
      one,
      {
        publish: ({ kind, stream }) =>
          delivered.push({
            kind,
            position: stream.changePosition,
            version: stream.version,
            ...('ingestStreamKey' in stream ? { key: stream.ingestStreamKey } : {}),
          }),
      },
      null,
      pino({ level: 'silent' }),
      { pollMs: 60_000, pageSize: 2 },
    );
    await tailer.start();
    try {
      // Written on the other replica while nothing wakes this one: one wake reads three pages.
      const written: { kind: string; position: number }[] = [];
      for (const kind of ['livestream', 'recording', 'recording', 'livestream', 'livestream'] as const) {
        written.push({ kind, position: await change(two, kind, kind === 'livestream' ? 'paged-live' : 'paged-rec') });
      }
      tailer.wake();
      await waitFor(() => delivered.length >= written.length);
      expect(delivered.map(({ kind, position }) => ({ kind, position }))).toEqual(written);
      expect(delivered.filter((c) => c.kind === 'livestream').map((c) => c.version)).toEqual([2, 3, 4]);
      expect(delivered.filter((c) => c.kind === 'recording').map((c) => c.version)).toEqual([2, 3]);
      for (const c of delivered) if (c.kind === 'livestream') expect(c.key).toBe('key-paged');
    } finally {
      await tailer.stop();
    }
  });
});
