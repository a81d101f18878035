import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CloudflareFake, startCloudflareFake } from '../fakes/cloudflare.js';
import { gql, START_LIVESTREAM, startServer, type TestServer, tempDir } from '../helpers.js';

/**
 * Issue 10 item 7: what the database keeps is for this service's user alone (directory 0700,
 * files 0600, -wal and -shm included); an applied webhook's body is not kept, and history keeps its
 * payload with credentials and personal data redacted.
 */

let fake: CloudflareFake;
let server: TestServer;
let root: string;
let dataDir: string;
let dbPath: string;

beforeAll(async () => {
  root = tempDir();
  dataDir = join(root, 'var', 'data');
  dbPath = join(dataDir, 'livestreams.sqlite');
  fake = await startCloudflareFake();
  server = await startServer({ ...fake.webhookEnv, DATABASE_URL: dbPath, POLL_INTERVAL_MS: '3600000' });
});
afterAll(async () => {
  await server?.cleanup();
  await fake?.close();
  rmSync(root, { recursive: true, force: true });
});

const mode = (path: string) => statSync(path).mode & 0o777;

describe('secrets at rest', () => {
  it('creates the data directory 0700 and the database files 0600', async () => {
    // A write, so the WAL and its index exist.
    await gql(server.url, START_LIVESTREAM, { input: { roomId: 'at-rest' } });
    expect(mode(dataDir).toString(8)).toBe('700');
    for (const file of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) expect(mode(file).toString(8), file).toBe('600');
  });

  it('keeps no body of an applied webhook; history keeps it with the stream key and names redacted', async () => {
    const started = await gql(server.url, START_LIVESTREAM, {
      input: { provider: 'CLOUDFLARE', roomId: `meeting-${crypto.randomUUID().slice(0, 8)}` },
    });
    const externalId = started.data?.startLivestream.livestream.externalId as string;
    fake.setLivestreamStatus(externalId, 'LIVE');
    const body = fake.livestreamWebhook(externalId);
    const streamKey = String(body.streamKey);
    expect(streamKey.length).toBeGreaterThan(4);
    const answer = await fake.sendWebhook(`http://127.0.0.1:${server.port}/webhooks/cloudflare`, body);
    expect(answer.body).toMatchObject({ ok: true, pending: false });

    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      const deliveries = db.prepare('select payload from webhook_deliveries').all() as { payload: string }[];
      expect(deliveries).toEqual([{ payload: '' }]);
      const history = db.prepare("select payload from status_events where source = 'WEBHOOK'").all() as {
        payload: string;
      }[];
      expect(history.length).toBeGreaterThan(0);
      const stored = history.map((row) => row.payload).join('\n');
      expect(stored).toContain('livestreaming.statusUpdate');
      expect(stored).toContain('[redacted]');
      expect(stored).not.toContain(streamKey);
      // The meeting's organizer (RealtimeKit `organizedBy: { name }`) is a person.
      expect(JSON.stringify(body)).toContain('Fake Org');
      expect(stored).not.toContain('Fake Org');
    } finally {
      db.close();
    }
  });
});
