import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type CloudflareFake, startCloudflareFake } from '../fakes/cloudflare.js';
import { gql, START_LIVESTREAM, startServer, type TestServer, tempDir } from '../helpers.js';
import { LIVESTREAM_READ, storedTrace } from './support.js';

/** What every webhook route guarantees, whichever vendor it serves. */
describe('webhook intake', () => {
  let fake: CloudflareFake;
  let server: TestServer | undefined;

  afterEach(async () => {
    await server?.cleanup();
    server = undefined;
    await fake?.close();
  });

  async function boot(env: Record<string, string> = {}, dir?: string): Promise<TestServer> {
    server = await startServer({ ...fake.webhookEnv, ...env }, dir ? { dir } : {});
    return server;
  }
  const hook = (s: TestServer, vendor = 'cloudflare') => `http://127.0.0.1:${s.port}/webhooks/${vendor}`;
  const readLivestream = async (s: TestServer, id: string) =>
    (await gql(s.url, LIVESTREAM_READ, { id })).data?.livestream;
  async function startLivestream(s: TestServer) {
    const roomId = `meeting-${crypto.randomUUID().slice(0, 8)}`;
    const { data } = await gql(s.url, START_LIVESTREAM, { input: { provider: 'CLOUDFLARE', roomId } });
    return data?.startLivestream.livestream as { id: string; externalId: string; roomId: string };
  }

  it('refuses a body over 1 MiB sent without Content-Length (chunked) with 413, storing nothing', async () => {
    fake = await startCloudflareFake();
    const s = await boot();
    const chunk = new TextEncoder().encode('x'.repeat(64 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 20) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const response = await fetch(hook(s), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'rtk-signature': 'c2lnbmF0dXJl' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(413);
    expect((await storedTrace(s.dbPath)).deliveries).toEqual([]);
  });

  it('answers only POST', async () => {
    fake = await startCloudflareFake();
    const s = await boot();
    const response = await fetch(hook(s));
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('refuses deliveries for a vendor that is not configured', async () => {
    fake = await startCloudflareFake();
    const s = await boot();
    const response = await fetch(hook(s, 'livekit'), {
      method: 'POST',
      headers: { 'content-type': 'application/webhook+json', authorization: 'anything' },
      body: JSON.stringify({ event: 'room_started', id: 'EV_1', room: { name: 'r' } }),
    });
    expect(response.status).toBe(401);
    expect((await storedTrace(s.dbPath)).deliveries).toEqual([]);
  });

  it('applies one delivery sent many times at once exactly once', async () => {
    fake = await startCloudflareFake();
    const s = await boot();
    const livestream = await startLivestream(s);
    const before = await readLivestream(s, livestream.id);
    fake.setLivestreamStatus(livestream.externalId, 'LIVE');
    const body = fake.livestreamWebhook(livestream.externalId);
    const uuid = crypto.randomUUID();
    const answers = await Promise.all(Array.from({ length: 25 }, () => fake.sendWebhook(hook(s), body, { uuid })));
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    expect(answers.filter((a) => !a.body.duplicate)).toHaveLength(1);
    const after = await readLivestream(s, livestream.id);
    expect(after.status).toBe('LIVE');
    expect(after.version).toBe(before.version + 1);
    expect((await storedTrace(s.dbPath)).deliveries).toHaveLength(1);
  });

  it('keeps its delivery log across a restart: a redelivery afterwards changes nothing', async () => {
    fake = await startCloudflareFake();
    const dir = tempDir();
    let s = await boot({}, dir);
    const livestream = await startLivestream(s);
    fake.setLivestreamStatus(livestream.externalId, 'LIVE');
    const body = fake.livestreamWebhook(livestream.externalId);
    const first = await fake.sendWebhook(hook(s), body);
    expect(first.status).toBe(200);
    // The delivery is on disk once it was answered: another connection sees it.
    expect((await storedTrace(s.dbPath)).deliveries.map((d) => d.delivery_id)).toEqual([first.uuid]);
    const afterFirst = await readLivestream(s, livestream.id);
    await s.stop();

    s = await boot({}, dir);
    const again = await fake.sendWebhook(hook(s), body, { uuid: first.uuid });
    expect(again).toMatchObject({ status: 200, body: { duplicate: true } });
    expect(await readLivestream(s, livestream.id)).toEqual(afterFirst);
    await s.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
});
