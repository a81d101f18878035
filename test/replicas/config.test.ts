import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('replica configuration', () => {
  it('stays on the SQLite file by default, with no Redis', () => {
    const config = loadConfig({});
    expect(config.database).toEqual({ kind: 'sqlite', path: './data/livestreams.sqlite' });
    expect(config.redisUrl).toBeUndefined();
    expect(config.polling.budgetReplicas).toBe(1);
    expect(loadConfig({ DATABASE_URL: ':memory:' }).database).toEqual({ kind: 'sqlite', path: ':memory:' });
  });

  it('selects PostgreSQL for a postgres:// or postgresql:// URL, with the documented pool defaults', () => {
    for (const url of ['postgres://app@db:5432/live', 'postgresql://app@db/live']) {
      expect(loadConfig({ DATABASE_URL: url }).database).toEqual({
        kind: 'postgres',
        url,
        poolSize: 10,
        connectTimeoutMs: 5000,
        statementTimeoutMs: 15_000,
      });
    }
    const tuned = loadConfig({
      DATABASE_URL: 'postgres://db/live',
      DATABASE_POOL_SIZE: '30',
      DATABASE_CONNECT_TIMEOUT_MS: '2000',
      DATABASE_STATEMENT_TIMEOUT_MS: '60000',
      REDIS_URL: 'rediss://cache:6380',
      POLL_BUDGET_REPLICAS: '3',
    });
    expect(tuned.database).toMatchObject({ poolSize: 30, connectTimeoutMs: 2000, statementTimeoutMs: 60_000 });
    expect(tuned.redisUrl).toBe('rediss://cache:6380');
    expect(tuned.polling.budgetReplicas).toBe(3);
  });

  it('names malformed replica settings', () => {
    const found = problems({
      DATABASE_POOL_SIZE: '0',
      DATABASE_STATEMENT_TIMEOUT_MS: 'long',
      REDIS_URL: 'http://cache:6379',
      POLL_BUDGET_REPLICAS: '0',
    }).join('\n');
    for (const name of ['DATABASE_POOL_SIZE', 'DATABASE_STATEMENT_TIMEOUT_MS', 'REDIS_URL', 'POLL_BUDGET_REPLICAS']) {
      expect(found).toContain(name);
    }
  });
});
