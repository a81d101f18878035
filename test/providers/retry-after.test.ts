import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeHms } from '../fakes/hms.js';
import {
  gql,
  START_LIVESTREAM,
  STOP_LIVESTREAM,
  startServer,
  storedRows,
  type TestServer,
  waitFor,
} from '../helpers.js';

/**
 * A vendor answering 429 with a `Retry-After` longer than VENDOR_MAX_RETRY_AFTER_MS: a mutation
 * answers RATE_LIMITED at once instead of hanging (the wait here is a minute, three times the test
 * timeout), and the poller leaves the stream alone until the vendor's wait has passed. Waits within
 * the bound are sent again after waiting (the vendors' own suites show that for starts and reads).
 */

const ACCESS_KEY = 'retry-after-access-key';
const APP_SECRET = 'retry-after-app-secret-0123456789';
const VENDOR_WAIT_SECONDS = 60;

let fake: FakeHms;
let server: TestServer;
let room = 0;
const nextRoom = () => `retry-after-room-${++room}`;

beforeAll(async () => {
  fake = await FakeHms.start({ accessKey: ACCESS_KEY, appSecret: APP_SECRET });
});
afterAll(async () => {
  await fake.close();
});
beforeEach(async () => {
  server = await startServer({
    HMS_ACCESS_KEY: ACCESS_KEY,
    HMS_APP_SECRET: APP_SECRET,
    HMS_API_URL: fake.url,
    POLL_INTERVAL_MS: '50',
    VENDOR_MAX_RETRIES: '2',
    VENDOR_MAX_RETRY_AFTER_MS: '2000',
  });
});
afterEach(async () => {
  await server.cleanup();
});

async function startLivestream(roomId: string) {
  const { data } = await gql(server.url, START_LIVESTREAM, { input: { provider: 'HMS', roomId } });
  return data?.startLivestream;
}

/** When the poller will read this livestream next, as stored. */
async function nextPollAt(id: string): Promise<number | null> {
  const [row] = await storedRows<{ at: number | null }>(
    server.dbPath,
    'SELECT next_poll_at AS at FROM livestreams WHERE id = ?',
    [id],
  );
  return row?.at ?? null;
}

describe('Retry-After beyond VENDOR_MAX_RETRY_AFTER_MS', () => {
  it('answers a start RATE_LIMITED at once, sending it only once', async () => {
    const roomId = nextRoom();
    fake.fail('rateLimit', { method: 'POST', path: /\/start$/, retryAfterSeconds: VENDOR_WAIT_SECONDS });
    const answer = await startLivestream(roomId);
    expect(answer).toMatchObject({ __typename: 'ProviderError', code: 'RATE_LIMITED', provider: 'HMS' });
    expect(fake.calls('POST', new RegExp(`/live-streams/room/${roomId}/start$`))).toHaveLength(1);
    expect(fake.jobsInRoom('live-streams', roomId)).toHaveLength(0);
  });

  it('answers a stop RATE_LIMITED at once, sending it only once', async () => {
    const started = await startLivestream(nextRoom());
    const id = started.livestream.id as string;
    const externalStops = () => fake.calls('POST', /^\/live-streams\/[^/]+\/stop$/);
    fake.fail('rateLimit', { method: 'POST', path: /\/stop$/, retryAfterSeconds: VENDOR_WAIT_SECONDS });
    const { data } = await gql(server.url, STOP_LIVESTREAM, { id });
    expect(data?.stopLivestream).toMatchObject({ __typename: 'ProviderError', code: 'RATE_LIMITED' });
    expect(externalStops()).toHaveLength(1);
  });

  it('polls the stream again only after the vendor asked to wait, not at its own interval', async () => {
    const started = await startLivestream(nextRoom());
    const id = started.livestream.id as string;
    const reads = () => fake.calls('GET', /^\/live-streams\/[^/]+$/).length;
    const readsBefore = reads();
    const armedAt = Date.now();
    fake.fail('rateLimit', { method: 'GET', path: /^\/live-streams\/[^/]+$/, retryAfterSeconds: VENDOR_WAIT_SECONDS });
    // The refused read releases the stream with its next poll after the vendor's wait, not at the
    // base interval (50 ms).
    const due = await waitFor(async () => {
      const at = await nextPollAt(id);
      return at !== null && at >= armedAt + VENDOR_WAIT_SECONDS * 1000 ? at : null;
    });
    // Backing off alone would put it at most 12 intervals (600 ms) away.
    expect(due).toBeGreaterThanOrEqual(armedAt + VENDOR_WAIT_SECONDS * 1000);
    expect(reads()).toBeGreaterThan(readsBefore);
  });
});
