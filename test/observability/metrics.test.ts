import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeHms } from '../fakes/hms.js';
import {
  collect,
  gql,
  START_LIVESTREAM,
  STOP_LIVESTREAM,
  startServer,
  type TestServer,
  waitFor,
  wsClient,
} from '../helpers.js';
import { delta, sample, scrape } from './support.js';

const base = (server: TestServer) => `http://127.0.0.1:${server.port}`;
const WATCH = 'subscription ($id: ID!) { livestreamChanged(id: $id) { status version } }';

describe('GET /metrics', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('serves the Prometheus text format with our names, and the process metrics', async () => {
    const response = await fetch(`${base(server)}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    for (const name of [
      'livestream_status_changes_total',
      'livestream_webhook_deliveries_total',
      'livestream_webhook_deliveries_pending',
      'livestream_vendor_calls_total',
      'livestream_vendor_call_duration_seconds',
      'livestream_polls_total',
      'livestream_poll_budget_remaining',
      'livestream_subscriptions_open',
      'livestream_commit_to_subscriber_seconds',
      'livestream_graphql_operations_total',
      'livestream_process_cpu_seconds_total',
      'livestream_nodejs_heap_size_used_bytes',
    ]) {
      expect(text).toContain(`# HELP ${name} `);
    }
    // Every sample is ours, and no label carries an id.
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
      expect(line.startsWith('livestream_')).toBe(true);
    }
    expect(sample(await scrape(base(server)), 'livestream_poll_budget_remaining', { provider: 'SANDBOX' })).toBe(1000);
  });

  it('moves with a livestream started, watched and stopped', async () => {
    const before = await scrape(base(server));
    const started = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'metrics-room' } });
    const id = started.data?.startLivestream.livestream.id as string;
    const client = wsClient(server.wsUrl);
    const seen = collect<{ livestreamChanged: { status: string } }>(client, WATCH, { id });
    await waitFor(() => seen.events.some((e) => e.livestreamChanged.status === 'LIVE'));

    const watching = delta(before, await scrape(base(server)));
    expect(watching('livestream_subscriptions_open', { transport: 'ws' })).toBe(1);
    expect(watching('livestream_subscriptions_opened_total', { transport: 'ws' })).toBe(1);

    expect((await gql(server.url, STOP_LIVESTREAM, { id })).data?.stopLivestream.__typename).toBe(
      'StopLivestreamSuccess',
    );
    await seen.completed;
    await client.dispose();
    const after = await waitFor(async () => {
      const now = await scrape(base(server));
      return sample(now, 'livestream_subscriptions_open', { transport: 'ws' }) ===
        sample(before, 'livestream_subscriptions_open', { transport: 'ws' })
        ? now
        : undefined;
    });
    const moved = delta(before, after);
    const change = (status: string) => moved('livestream_status_changes_total', { kind: 'livestream', status });
    expect([change('LIVE'), change('STOPPING'), change('STOPPED'), change('FAILED')]).toEqual([1, 1, 1, 0]);
    expect(moved('livestream_status_changes_total', { kind: 'livestream', status: 'STOPPING', source: 'API' })).toBe(1);
    const call = (operation: string) =>
      moved('livestream_vendor_calls_total', { provider: 'SANDBOX', operation, outcome: 'ok' });
    expect([call('startLivestream'), call('stopLivestream')]).toEqual([1, 1]);
    expect(
      moved('livestream_vendor_call_duration_seconds_count', { provider: 'SANDBOX', operation: 'startLivestream' }),
    ).toBe(1);
    expect(moved('livestream_graphql_operations_total', { operation_type: 'mutation' })).toBe(2);
    expect(moved('livestream_graphql_operations_total', { operation_type: 'subscription' })).toBe(1);
  });

  it('counts SSE subscriptions opened and closed', async () => {
    const before = await scrape(base(server));
    const abort = new AbortController();
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription { livestreamChanged { id } }' }),
      signal: abort.signal,
    });
    expect(response.status).toBe(200);
    await waitFor(async () => {
      const open = delta(before, await scrape(base(server)));
      return open('livestream_subscriptions_open', { transport: 'sse' }) === 1;
    });
    abort.abort();
    await waitFor(async () => {
      const now = delta(before, await scrape(base(server)));
      return (
        now('livestream_subscriptions_open', { transport: 'sse' }) === 0 &&
        now('livestream_subscriptions_opened_total', { transport: 'sse' }) === 1
      );
    });
  });

  it('counts a subscription refused at setup as an operation and a subscribe-phase error, and times it', async () => {
    const before = await scrape(base(server));
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription { livestreamChanged(after: "not-a-cursor") { id } }' }),
    });
    expect(await response.text()).toContain('VALIDATION');
    const moved = delta(before, await scrape(base(server)));
    expect(moved('livestream_graphql_operations_total', { operation_type: 'subscription' })).toBe(1);
    expect(moved('livestream_graphql_errors_total', { phase: 'subscribe' })).toBe(1);
    expect(moved('livestream_graphql_operation_duration_seconds_count', { operation_type: 'subscription' })).toBe(1);
  });
});

describe('METRICS_TOKEN', () => {
  const token = 'metrics-token-for-the-scraper';
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ METRICS_TOKEN: token });
  });
  afterAll(async () => {
    await server.cleanup();
  });

  it('guards /metrics: 401 without the token or with another, 200 with it', async () => {
    const missing = await fetch(`${base(server)}/metrics`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expect(await missing.text()).not.toContain('livestream_');
    const wrong = await fetch(`${base(server)}/metrics`, { headers: { authorization: `Bearer ${token}-not` } });
    expect(wrong.status).toBe(401);
    expect(sample(await scrape(base(server), token), 'livestream_poll_budget_remaining')).toBeGreaterThan(0);
  });

  it('refuses a token shorter than 16 characters at boot', async () => {
    await expect(startServer({ METRICS_TOKEN: 'short' })).rejects.toThrow(/METRICS_TOKEN/);
  });
});

describe('webhook metrics', () => {
  const ACCESS_KEY = 'hms-metrics-access-key';
  const APP_SECRET = 'hms-metrics-app-secret-00000000';
  const SECRET = 'hms-metrics-webhook-secret-1234';
  let fake: FakeHms;
  let server: TestServer;
  beforeAll(async () => {
    fake = await FakeHms.start({ accessKey: ACCESS_KEY, appSecret: APP_SECRET });
    server = await startServer({
      HMS_ACCESS_KEY: ACCESS_KEY,
      HMS_APP_SECRET: APP_SECRET,
      HMS_API_URL: fake.url,
      HMS_WEBHOOK_SECRET: SECRET,
      POLL_INTERVAL_MS: '3600000',
    });
    fake.webhookTarget = { url: `${base(server)}/webhooks/hms`, headers: { 'x-hms-webhook-secret': SECRET } };
  });
  afterAll(async () => {
    await server.cleanup();
    await fake.close();
  });

  const post = (body: string, secret = SECRET) =>
    fetch(`${base(server)}/webhooks/hms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-hms-webhook-secret': secret },
      body,
    });

  it('counts accepted, duplicate, forged, malformed, too large and pending deliveries', async () => {
    const started = await gql(server.url, START_LIVESTREAM, {
      input: { provider: 'HMS', roomId: 'hms-metrics-room', meetingUrl: 'https://acme.app.100ms.live/preview/r' },
    });
    const livestream = started.data?.startLivestream.livestream as { id: string; externalId: string };
    const before = await scrape(base(server));

    fake.setStatus(livestream.externalId, 'running');
    const data = fake.webhookData(livestream.externalId);
    expect((await fake.sendWebhook('hls.started.success', data, { id: 'delivery-1' })).status).toBe(200);
    expect((await fake.sendWebhook('hls.started.success', data, { id: 'delivery-1' })).status).toBe(200);
    expect((await post('{"id":"x","type":"hls.started.success","data":{}}', 'forged-secret-value')).status).toBe(401);
    expect((await post('{"not":"the shape"}')).status).toBe(400);
    expect((await post(`{"pad":"${'x'.repeat(1024 * 1024)}"}`)).status).toBe(413);
    const unknown = { ...data, job_id: 'job-nobody-knows', room_id: 'room-nobody-knows', session_id: 'session-x' };
    const pending = await fake.sendWebhook('hls.started.success', unknown, { id: 'delivery-2' });
    expect(pending.status).toBe(200);

    const moved = delta(before, await scrape(base(server)));
    const outcome = (name: string) => moved('livestream_webhook_deliveries_total', { provider: 'HMS', outcome: name });
    expect({
      accepted: outcome('accepted'),
      duplicate: outcome('duplicate'),
      rejected_signature: outcome('rejected_signature'),
      malformed: outcome('malformed'),
      too_large: outcome('too_large'),
      pending: outcome('pending'),
    }).toEqual({ accepted: 1, duplicate: 1, rejected_signature: 1, malformed: 1, too_large: 1, pending: 1 });
    expect(moved('livestream_webhook_deliveries_pending', { provider: 'HMS' })).toBe(1);
    expect(
      moved('livestream_status_changes_total', {
        kind: 'livestream',
        status: 'LIVE',
        source: 'WEBHOOK',
        provider: 'HMS',
      }),
    ).toBe(1);
  });
});
