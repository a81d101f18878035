import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, START_LIVESTREAM, START_RECORDING, startServer, type TestServer } from './helpers.js';
import { bearer, HS256_ENV, hsToken } from './security/support.js';

/**
 * Issue 10 item 12: an idempotencyKey reused with different input answers ConflictError naming
 * the stream it made (as payment APIs do), and keys belong to one caller when auth is on.
 */

let open: TestServer;
let authed: TestServer;

beforeAll(async () => {
  [open, authed] = await Promise.all([
    startServer({ SANDBOX_STEP_MS: '60000' }),
    startServer({ ...HS256_ENV, SANDBOX_STEP_MS: '60000' }),
  ]);
});
afterAll(async () => {
  await Promise.all([open?.cleanup(), authed?.cleanup()]);
});

async function count(server: TestServer, roomId: string, headers: Record<string, string> = {}) {
  const result = await gql(
    server.url,
    'query($room: String) { livestreams(roomId: $room, first: 100) { edges { node { id } } } }',
    { room: roomId },
    headers,
  );
  return result.data?.livestreams.edges.length;
}

describe('idempotencyKey reused with different input', () => {
  it('answers ConflictError carrying the stream the key made, and starts nothing', async () => {
    const input = {
      roomId: 'idem-input',
      idempotencyKey: 'key-input',
      name: 'Town hall',
      video: { width: 1280, height: 720 },
    };
    const first = await gql(open.url, START_LIVESTREAM, { input });
    const id = first.data?.startLivestream.livestream.id;
    expect(id).toBeTruthy();

    // The same input, spelt differently (fields in another order, an explicit null): the same stream.
    const same = await gql(open.url, START_LIVESTREAM, {
      input: {
        video: { height: 720, width: 1280 },
        name: 'Town hall',
        idempotencyKey: 'key-input',
        roomId: 'idem-input',
        destination: null,
      },
    });
    expect(same.data?.startLivestream).toMatchObject({ __typename: 'StartLivestreamSuccess', livestream: { id } });

    for (const changed of [
      { name: 'Other' },
      { video: { width: 640, height: 360 } },
      { meetingUrl: 'https://x.test/' },
    ]) {
      const other = await gql(open.url, START_LIVESTREAM, { input: { ...input, ...changed } });
      expect(other.data?.startLivestream).toMatchObject({
        __typename: 'ConflictError',
        code: 'CONFLICT',
        activeLivestream: { id },
      });
      expect(other.data?.startLivestream.message).toContain(id);
    }
    expect(await count(open, 'idem-input')).toBe(1);
  });

  it('does the same for recordings', async () => {
    const input = { roomId: 'idem-rec', idempotencyKey: 'key-rec' };
    const first = await gql(open.url, START_RECORDING, { input });
    const id = first.data?.startRecording.recording.id;
    const other = await gql(open.url, START_RECORDING, { input: { ...input, audioOnly: true } });
    expect(other.data?.startRecording).toMatchObject({ __typename: 'ConflictError', activeRecording: { id } });
  });
});

describe('idempotencyKey scope', () => {
  it('is shared by every caller in open mode', async () => {
    const input = { roomId: 'idem-open', idempotencyKey: 'shared-key' };
    const a = await gql(open.url, START_LIVESTREAM, { input });
    const b = await gql(open.url, START_LIVESTREAM, { input });
    expect(b.data?.startLivestream.livestream.id).toBe(a.data?.startLivestream.livestream.id);
  });

  it("is each caller's own when auth is on: another subject's key answers another stream", async () => {
    const alice = bearer(await hsToken({ roles: ['host'], subject: 'alice' }));
    const bob = bearer(await hsToken({ roles: ['host'], subject: 'bob' }));
    const a = await gql(authed.url, START_LIVESTREAM, { input: { roomId: 'idem-alice', idempotencyKey: 'k' } }, alice);
    const aAgain = await gql(
      authed.url,
      START_LIVESTREAM,
      { input: { roomId: 'idem-alice', idempotencyKey: 'k' } },
      alice,
    );
    expect(aAgain.data?.startLivestream.livestream.id).toBe(a.data?.startLivestream.livestream.id);
    // Bob's "k" is not Alice's: his start in another room is his own stream, not a conflict.
    const b = await gql(authed.url, START_LIVESTREAM, { input: { roomId: 'idem-bob', idempotencyKey: 'k' } }, bob);
    expect(b.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
    expect(b.data?.startLivestream.livestream.id).not.toBe(a.data?.startLivestream.livestream.id);
  });
});
