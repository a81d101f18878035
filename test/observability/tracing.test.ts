import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeHms } from '../fakes/hms.js';
import { gql, START_LIVESTREAM, waitFor } from '../helpers.js';
import { type LoggedServer, startLoggedServer } from './support.js';

/** A span as OTLP/HTTP JSON carries it. */
interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: { key: string; value: { stringValue?: string } }[];
}

/** An in-process OTLP/HTTP receiver: what the exporter posts to `/v1/traces`. */
class OtlpReceiver {
  readonly spans: ExportedSpan[] = [];
  readonly resources: Record<string, unknown>[] = [];
  private readonly server: Server;
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (req.url === '/v1/traces' && req.headers['content-type']?.startsWith('application/json')) {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          for (const resourceSpans of body.resourceSpans ?? []) {
            this.resources.push(resourceSpans.resource);
            for (const scope of resourceSpans.scopeSpans ?? []) this.spans.push(...scope.spans);
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  inTrace(traceId: string): ExportedSpan[] {
    return this.spans.filter((span) => span.traceId === traceId);
  }
}

const attribute = (span: ExportedSpan, key: string) => span.attributes.find((a) => a.key === key)?.value.stringValue;

describe('OpenTelemetry tracing (OTEL_EXPORTER_OTLP_ENDPOINT set)', () => {
  const ACCESS_KEY = 'hms-tracing-access-key';
  const APP_SECRET = 'hms-tracing-app-secret-0000000';
  const SECRET = 'hms-tracing-webhook-secret-5678';
  const receiver = new OtlpReceiver();
  let fake: FakeHms;
  let server: LoggedServer;

  beforeAll(async () => {
    await receiver.start();
    fake = await FakeHms.start({ accessKey: ACCESS_KEY, appSecret: APP_SECRET });
    server = await startLoggedServer({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_SERVICE_NAME: 'livestreams-under-test',
      HMS_ACCESS_KEY: ACCESS_KEY,
      HMS_APP_SECRET: APP_SECRET,
      HMS_API_URL: fake.url,
      HMS_WEBHOOK_SECRET: SECRET,
      POLL_INTERVAL_MS: '3600000',
    });
    fake.webhookTarget = {
      url: `${server.base}/webhooks/hms`,
      headers: { 'x-hms-webhook-secret': SECRET },
    };
  });
  afterAll(async () => {
    await server.stop();
    await fake.close();
    await receiver.close();
  });

  it("continues a router's traceparent into the GraphQL operation and vendor call spans; a webhook's delivery, apply and publish share one trace", async () => {
    const traceId = randomBytes(16).toString('hex');
    const parentSpanId = randomBytes(8).toString('hex');
    const started = await gql(
      `${server.base}/graphql`,
      START_LIVESTREAM,
      { input: { provider: 'HMS', roomId: 'hms-traced-room', meetingUrl: 'https://acme.app.100ms.live/preview/r' } },
      { traceparent: `00-${traceId}-${parentSpanId}-01`, 'x-request-id': 'traced-request' },
    );
    const livestream = started.data?.startLivestream.livestream as { id: string; externalId: string };
    expect(livestream.id).toBeTruthy();

    fake.setStatus(livestream.externalId, 'running');
    const delivery = await fake.sendWebhook('hls.started.success', fake.webhookData(livestream.externalId));
    expect(delivery.status).toBe(200);

    // The batch exporter sends what it holds on shutdown.
    await server.stop();
    await waitFor(() => receiver.inTrace(traceId).length >= 3);

    const traced = receiver.inTrace(traceId);
    const request = traced.find((span) => span.name === 'POST /graphql');
    expect(request?.parentSpanId).toBe(parentSpanId);
    const operation = traced.find((span) => span.name === 'graphql.mutation Start');
    expect(operation?.parentSpanId).toBe(request?.spanId);
    const vendorCall = traced.find((span) => span.name === 'vendor.startLivestream');
    expect(vendorCall && attribute(vendorCall, 'livestream.provider')).toBe('HMS');
    expect(traced.some((span) => span.name === 'stream.apply')).toBe(true);

    const webhook = receiver.spans.find((span) => span.name === 'webhook.delivery');
    expect(webhook).toBeDefined();
    const webhookTrace = receiver.inTrace(webhook?.traceId ?? '');
    expect(webhookTrace.some((span) => span.name === 'POST /webhooks/hms')).toBe(true);
    const apply = webhookTrace.find((span) => span.name === 'stream.apply');
    expect(apply && attribute(apply, 'livestream.source')).toBe('WEBHOOK');
    expect(apply?.parentSpanId).toBe(webhook?.spanId);
    const publish = webhookTrace.find((span) => span.name === 'stream.publish');
    expect(publish).toBeDefined();
    expect(webhook?.traceId).not.toBe(traceId);

    expect(JSON.stringify(receiver.resources)).toContain('livestreams-under-test');
    // The request's log line carries the trace it belongs to.
    expect(server.lines.find((line) => line.requestId === 'traced-request' && line.res)?.traceId).toBe(traceId);
  });
});
