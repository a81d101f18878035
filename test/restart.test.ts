import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { gql, START_LIVESTREAM, START_RECORDING, startServer, tempDir, waitFor } from './helpers.js';

const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const READ = `query($id: ID!, $rec: ID!) {
  livestream(id: $id) { id status version vendorStatus externalId playbackUrl history { status version source applied } }
  recording(id: $rec) { id status version }
}`;

describe('restart on the same database file', () => {
  it('keeps every stream, its status, version and history, and its active-room guard', async () => {
    const first = await startServer({ SANDBOX_STEP_MS: '30' }, { dir });
    const started = await gql(first.url, START_LIVESTREAM, {
      input: { roomId: 'durable-room', idempotencyKey: 'durable' },
    });
    const id = started.data?.startLivestream.livestream.id;
    const recording = await gql(first.url, START_RECORDING, { input: { roomId: 'durable-room' } });
    const rec = recording.data?.startRecording.recording.id;
    // Wait until both are steady (LIVE / RECORDING): the sandbox moves nothing further until a stop,
    // so the state read before the restart is the state the second process must show.
    await waitFor(async () => {
      const data = (await gql(first.url, READ, { id, rec })).data;
      return data?.livestream.status === 'LIVE' && data?.recording.status === 'RECORDING';
    });
    const before = (await gql(first.url, READ, { id, rec })).data;
    expect(before?.livestream.version).toBeGreaterThanOrEqual(3);
    await first.stop();

    const second = await startServer({ SANDBOX_STEP_MS: '30' }, { dir });
    try {
      expect(second.dbPath).toBe(first.dbPath);
      const after = (await gql(second.url, READ, { id, rec })).data;
      expect(after).toEqual(before);

      const conflict = await gql(second.url, START_LIVESTREAM, { input: { roomId: 'durable-room' } });
      expect(conflict.data?.startLivestream).toMatchObject({ __typename: 'ConflictError', activeLivestream: { id } });
      const same = await gql(second.url, START_LIVESTREAM, {
        input: { roomId: 'durable-room', idempotencyKey: 'durable' },
      });
      expect(same.data?.startLivestream.livestream.id).toBe(id);

      const ready = await fetch(`http://127.0.0.1:${second.port}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      await second.stop();
    }
  });
});
