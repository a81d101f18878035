import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { tempDir, testDatabaseUrl } from '../helpers.js';
import { JWT_SECRET } from './support.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = tempDir();
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('production and authentication at boot', () => {
  it('refuses production without auth, naming AUTH_JWT_SECRET and AUTH_JWKS_URL', () => {
    const [problem] = problems({ NODE_ENV: 'production' });
    expect(problem).toContain('AUTH_JWT_SECRET');
    expect(problem).toContain('AUTH_JWKS_URL');
    expect(problems({ NODE_ENV: 'production', AUTH_JWT_SECRET: JWT_SECRET })).toEqual([]);
    expect(problems({ NODE_ENV: 'production', AUTH_JWKS_URL: 'https://idp.example/jwks.json' })).toEqual([]);
  });

  it('names malformed auth settings', () => {
    expect(problems({ AUTH_JWT_SECRET: 'short' })[0]).toContain('AUTH_JWT_SECRET');
    expect(problems({ AUTH_JWKS_URL: 'not a url' })[0]).toContain('AUTH_JWKS_URL');
    expect(problems({ AUTH_JWT_SECRET: JWT_SECRET, AUTH_JWKS_URL: 'https://idp.example/jwks.json' })[0]).toMatch(
      /AUTH_JWT_SECRET, AUTH_JWKS_URL/,
    );
    expect(problems({ AUTH_ISSUER: 'https://idp.example/' })[0]).toContain('AUTH_ISSUER');
    expect(problems({ SUBGRAPH_SECRET: 'short' })[0]).toContain('SUBGRAPH_SECRET');
    expect(problems({ GRAPHQL_INTROSPECTION: 'maybe' })[0]).toContain('GRAPHQL_INTROSPECTION');
    expect(problems({ GRAPHQL_MAX_DEPTH: '0' })[0]).toContain('GRAPHQL_MAX_DEPTH');
  });

  it('turns introspection off in production unless GRAPHQL_INTROSPECTION=true', () => {
    expect(loadConfig({}).graphql.introspection).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: JWT_SECRET }).graphql.introspection).toBe(false);
    const enabled = loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: JWT_SECRET, GRAPHQL_INTROSPECTION: 'true' });
    expect(enabled.graphql.introspection).toBe(true);
    expect(loadConfig({ GRAPHQL_INTROSPECTION: 'false' }).graphql.introspection).toBe(false);
  });

  it('exits at once as a real process in production without auth', async () => {
    const child = spawn(join(root, 'node_modules', '.bin', 'tsx'), ['src/main.ts'], {
      cwd: root,
      env: {
        ...process.env,
        NODE_ENV: 'production',
        PORT: '0',
        DATABASE_URL: await testDatabaseUrl(dir, 'prod.sqlite'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(output).toContain('AUTH_JWT_SECRET or AUTH_JWKS_URL');
    expect(output).not.toContain('listening');
  }, 60_000);

  it('runs open outside production, and says so loudly at boot', async () => {
    const lines: { level: number; msg: string }[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const open = await buildApp(
      loadConfig({ PORT: '0', DATABASE_URL: await testDatabaseUrl(dir, 'open.sqlite') }),
      pino(sink),
    );
    expect(lines.find((line) => line.level === 40 && /AUTHENTICATION IS OFF/.test(line.msg))).toBeDefined();
    await open.stop();

    lines.length = 0;
    const secured = await buildApp(
      loadConfig({
        PORT: '0',
        DATABASE_URL: await testDatabaseUrl(dir, 'secured.sqlite'),
        AUTH_JWT_SECRET: JWT_SECRET,
      }),
      pino(sink),
    );
    expect(lines.find((line) => /AUTHENTICATION IS OFF/.test(line.msg))).toBeUndefined();
    await secured.stop();
  });
});
