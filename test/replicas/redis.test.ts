import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeSignal } from '../../src/replicas/change-signal.js';
import { SharedPollBudget } from '../../src/replicas/poll-budget.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';

/** A pino logger whose lines the test reads. */
function capturedLogger() {
  const lines: { level: number; msg: string; role?: string }[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

/** Re-checks until true (the test's own timeout bounds it). */
async function until(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 20));
}

const budget = { SANDBOX: 5, HMS: 4, CLOUDFLARE: 1, DYTE: 1, TENBYTE: 1, LIVEKIT: 1 };

describe('change signal between replicas', () => {
  let redis: TestRedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('wakes every replica with the committed position', async () => {
    const quiet = pino({ level: 'silent' });
    const a = new ChangeSignal(redis.url, quiet);
    const b = new ChangeSignal(redis.url, quiet);
    try {
      expect(await a.whenConnected()).toBe(true);
      expect(await b.whenConnected()).toBe(true);
      await until(() => a.connected && b.connected);
      const seenByB: (number | null)[] = [];
      const seenByA: (number | null)[] = [];
      b.onChange((position) => seenByB.push(position));
      a.onChange((position) => seenByA.push(position));
      a.publish(41);
      a.publish(42);
      await until(() => seenByB.length === 2 && seenByA.length === 2);
      expect(seenByB).toEqual([41, 42]);
      expect(seenByA).toEqual([41, 42]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('keeps committing through a Redis outage, logs it once, and resumes signalling after a restart', async () => {
    const { logger, lines } = capturedLogger();
    const a = new ChangeSignal(redis.url, logger);
    const b = new ChangeSignal(redis.url, logger);
    try {
      await until(() => a.connected && b.connected);
      const seen: (number | null)[] = [];
      b.onChange((position) => seen.push(position));

      await redis.stop();
      await until(() => !a.connected && !b.connected);
      for (let position = 1; position <= 50; position += 1) expect(() => a.publish(position)).not.toThrow();
      const warnings = () => lines.filter((line) => line.level === 40);
      // One warning per connection (two per replica), however many publishes and reconnect attempts.
      await until(() => warnings().length === 4);

      await redis.start();
      // Back: the subscriber is told it may have missed signals, then signals flow again.
      await until(() => seen.includes(null));
      let position = 100;
      await until(() => {
        a.publish(position);
        position += 1;
        return seen.some((value) => value !== null && value >= 100);
      });
      expect(seen.filter((value) => value !== null && value < 100)).toEqual([]);
      await until(() => lines.filter((line) => line.msg === 'Redis reachable again').length === 4);
      expect(warnings()).toHaveLength(4);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('poll budget shared by replicas', () => {
  let redis: TestRedisServer;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('holds one budget for two replicas together', async () => {
    const quiet = pino({ level: 'silent' });
    const stop = new AbortController();
    const options = { budget, windowMs: 60_000, replicas: 2, signal: stop.signal, keyPrefix: 'test-shared' };
    const one = new SharedPollBudget(redis.url, options, quiet);
    const two = new SharedPollBudget(redis.url, options, quiet);
    try {
      expect(await one.whenConnected()).toBe(true);
      expect(await two.whenConnected()).toBe(true);
      let granted = 0;
      const takes = [one, two, one, two, one, two, one, two].map((replica) =>
        replica.take('SANDBOX').then(() => {
          granted += 1;
        }),
      );
      await until(() => granted === budget.SANDBOX);
      // The rest wait for the window (a minute), on both replicas; other vendors are unaffected.
      await until(() => one.waiting('SANDBOX') + two.waiting('SANDBOX') === 8 - budget.SANDBOX);
      const inspector = new Redis(redis.url);
      expect(await inspector.zcard('test-shared:SANDBOX')).toBe(budget.SANDBOX);
      inspector.disconnect();
      await two.take('HMS');
      expect(granted).toBe(budget.SANDBOX);
      stop.abort(new Error('poller stopped'));
      const settled = await Promise.allSettled(takes);
      expect(settled.filter((result) => result.status === 'rejected')).toHaveLength(8 - budget.SANDBOX);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('lets the window slide: a take waits for the oldest grant to leave it', async () => {
    const quiet = pino({ level: 'silent' });
    const options = { budget: { ...budget, HMS: 2 }, windowMs: 1500, replicas: 1, keyPrefix: 'test-slide' };
    const one = new SharedPollBudget(redis.url, options, quiet);
    const two = new SharedPollBudget(redis.url, options, quiet);
    try {
      await one.whenConnected();
      await two.whenConnected();
      let granted = 0;
      const takes = [one, two, one].map((replica) =>
        replica.take('HMS').then(() => {
          granted += 1;
        }),
      );
      await until(() => granted === 2 && one.waiting('HMS') + two.waiting('HMS') === 1);
      await Promise.all(takes);
      expect(granted).toBe(3);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it('falls back to its share of the budget while Redis is down, without throwing', async () => {
    const quiet = pino({ level: 'silent' });
    const stop = new AbortController();
    const options = { budget, windowMs: 60_000, replicas: 2, signal: stop.signal, keyPrefix: 'test-fallback' };
    const one = new SharedPollBudget(redis.url, options, quiet);
    try {
      expect(await one.whenConnected()).toBe(true);
      await redis.stop();
      let granted = 0;
      const takes = [1, 2, 3].map(() =>
        one.take('HMS').then(() => {
          granted += 1;
        }),
      );
      // HMS's budget of 4 over 2 expected replicas: 2 now, the third waits for the window.
      await until(() => granted === 2 && one.waiting('HMS') === 1);
      stop.abort(new Error('poller stopped'));
      const settled = await Promise.allSettled(takes);
      expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    } finally {
      await one.close();
      await redis.start();
    }
  });
});
