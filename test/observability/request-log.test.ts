import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { yogaLogging } from '../../src/observability/yoga-log.js';
import { waitFor } from '../helpers.js';
import { type LoggedServer, startLoggedServer } from './support.js';

describe('request logs', () => {
  let server: LoggedServer;
  beforeAll(async () => {
    server = await startLoggedServer();
  });
  afterAll(async () => {
    await server.stop();
  });

  const requestLine = (requestId: string) => server.lines.find((line) => line.requestId === requestId && line.res);

  it('writes one JSON line per request with the request id the caller sent, and answers it', async () => {
    const response = await fetch(`${server.base}/healthz`, { headers: { 'x-request-id': 'router-request-42' } });
    expect(response.headers.get('x-request-id')).toBe('router-request-42');
    const line = await waitFor(() => requestLine('router-request-42'));
    expect(line).toMatchObject({
      level: 30,
      requestId: 'router-request-42',
      req: { method: 'GET', path: '/healthz' },
      res: { statusCode: 200 },
    });
    expect(typeof line.durationMs).toBe('number');
    expect(line.traceId).toBeUndefined();
    expect(server.lines.filter((l) => l.requestId === 'router-request-42')).toHaveLength(1);
  });

  it('makes an id when none (or an implausible one) is sent, and leaves query strings out', async () => {
    const response = await fetch(`${server.base}/graphql?token=secret-in-query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': `spaces are not ids ${'x'.repeat(200)}` },
      body: JSON.stringify({ query: '{ providers { provider } }' }),
    });
    expect(response.status).toBe(200);
    const id = response.headers.get('x-request-id') ?? '';
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const line = await waitFor(() => requestLine(id));
    expect(line).toMatchObject({ req: { method: 'POST', path: '/graphql' }, res: { statusCode: 200 } });
    expect(JSON.stringify(server.lines)).not.toContain('secret-in-query');

    const plain = await fetch(`${server.base}/readyz`);
    expect(plain.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(plain.headers.get('x-request-id')).not.toBe(id);
  });
});

describe("yoga's log calls", () => {
  it('keep their objects as fields and their error as err, not "[object Object]"', () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString('utf8')));
        done();
      },
    });
    const log = yogaLogging(createLogger('debug', sink));
    log.warn('subscription ended', { operationName: 'Watch', subscriptions: 3 });
    log.error(new Error('boom'), { phase: 'execute' });
    expect(lines[0]).toMatchObject({ level: 40, msg: 'subscription ended', operationName: 'Watch', subscriptions: 3 });
    expect(lines[1]).toMatchObject({ level: 50, phase: 'execute', err: { message: 'boom', type: 'Error' } });
    expect(JSON.stringify(lines)).not.toContain('[object Object]');
  });
});
