import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { type Client, createClient } from 'graphql-ws';
import pg from 'pg';
import pino from 'pino';
import WebSocket from 'ws';
import { type App, buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { PostgresStore } from '../src/store/postgres/store.js';
import { SqliteStore } from '../src/store/sqlite/store.js';
import type { Store } from '../src/store/types.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';

/**
 * The store the suite runs on: SQLite by default, PostgreSQL with TEST_STORE=postgres (`npm test`
 * runs both, see vitest.config.ts). On PostgreSQL each server gets a database of its own, dropped
 * with it (or, when its folder is shared for a restart, when the test file ends).
 */
export const TEST_STORE: 'sqlite' | 'postgres' = process.env.TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

/** The databases of this test file, by the folder that names them (one per server unless shared). */
const databases = new Map<string, TestDatabase>();

/** Drops every database this test file created (test/support/setup.ts calls it after each file). */
export async function dropTestDatabases(): Promise<void> {
  const all = [...databases.values()];
  databases.clear();
  await Promise.all(all.map((database) => database.drop()));
}

async function databaseFor(dir: string): Promise<TestDatabase> {
  let database = databases.get(dir);
  if (!database) {
    database = await createTestDatabase();
    databases.set(dir, database);
  }
  return database;
}

export interface TestServer {
  app: App;
  url: string;
  wsUrl: string;
  port: number;
  /** The database: a SQLite file path, or on PostgreSQL its postgres:// URL (see `storedRows`). */
  dbPath: string;
  /** Stops the service; the database file stays until `cleanup`. */
  stop(): Promise<void>;
  /** Stops (if running) and deletes the temp folder. */
  cleanup(): Promise<void>;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'livestream-test-'));
}

/**
 * A database for a service a test builds itself: a SQLite file `name` in `dir`, or on PostgreSQL
 * a fresh database (dropped when the test file ends).
 */
export async function testDatabaseUrl(dir: string, name: string): Promise<string> {
  if (TEST_STORE === 'sqlite') return join(dir, name);
  return (await databaseFor(join(dir, name))).url;
}

/** The store of the suite's engine (TEST_STORE), opened on its own: a SQLite file in `dir`, or a fresh PostgreSQL database. */
export async function openTestStore(dir: string, name: string): Promise<Store> {
  const { database } = loadConfig({ DATABASE_URL: await testDatabaseUrl(dir, name) });
  if (database.kind === 'sqlite') return new SqliteStore(database.path);
  const postgres = new PostgresStore(database, pino({ level: 'silent' }));
  await postgres.open();
  return postgres;
}

/** Starts the real service on a free port with a real SQLite file in a temp folder. */
export async function startServer(
  env: Record<string, string> = {},
  options: { dir?: string } = {},
): Promise<TestServer> {
  const dir = options.dir ?? tempDir();
  const dbPath = TEST_STORE === 'postgres' ? (await databaseFor(dir)).url : join(dir, 'livestreams.sqlite');
  const config = loadConfig({
    PORT: '0',
    DATABASE_URL: dbPath,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SANDBOX_STEP_MS: '50',
    POLL_INTERVAL_MS: '60000',
    ...env,
  });
  const app = await buildApp(config, createLogger(config.logLevel));
  const port = await app.start();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await app.stop();
  };
  return {
    app,
    port,
    dbPath,
    url: `http://127.0.0.1:${port}/graphql`,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    stop,
    async cleanup() {
      await stop();
      if (options.dir) return;
      rmSync(dir, { recursive: true, force: true });
      const database = databases.get(dir);
      databases.delete(dir);
      await database?.drop();
    },
  };
}

/**
 * Runs `sql` on the service's database through a connection of its own, as an operator would,
 * and answers its rows the way SQLite gives them whichever the engine: times as epoch
 * milliseconds, booleans as 0/1, counts as numbers. `?` placeholders on both engines.
 */
export async function storedRows<T = Record<string, unknown>>(
  dbPath: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  if (!dbPath.startsWith('postgres')) {
    const db = new Database(dbPath, { fileMustExist: true });
    try {
      const statement = db.prepare(sql);
      if (!statement.reader) {
        statement.run(...params);
        return [];
      }
      return statement.all(...params) as T[];
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: dbPath });
  await client.connect();
  try {
    let n = 0;
    const result = await client.query(
      sql.replace(/\?/g, () => `$${++n}`),
      params,
    );
    return result.rows.map((row) => {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(row)) {
        if (value instanceof Date) out[key] = value.getTime();
        else if (typeof value === 'boolean') out[key] = value ? 1 : 0;
        else if (typeof value === 'string' && result.fields.find((f) => f.name === key)?.dataTypeID === 20) {
          out[key] = Number(value);
        } else out[key] = value;
      }
      return out as T;
    });
  } finally {
    await client.end();
  }
}

/**
 * Everything the database holds, as text: the SQLite file and its WAL byte for byte, or every row
 * of every PostgreSQL table (to check that a secret is stored nowhere).
 */
export async function storedText(dbPath: string): Promise<string> {
  if (!dbPath.startsWith('postgres')) {
    return ['', '-wal']
      .filter((suffix) => existsSync(dbPath + suffix))
      .map((suffix) => readFileSync(dbPath + suffix).toString('latin1'))
      .join('');
  }
  const tables = await storedRows<{ name: string }>(
    dbPath,
    "select schemaname || '.' || tablename as name from pg_tables where schemaname in ('public', 'drizzle')",
  );
  const texts = await Promise.all(
    tables.map(({ name }) =>
      storedRows<{ text: string | null }>(dbPath, `select string_agg(t::text, ' ') as text from ${name} t`),
    ),
  );
  return texts.map(([row]) => row?.text ?? '').join(' ');
}

/**
 * Removes every history row but the newest, as retention does: answers how many went. On
 * PostgreSQL retention also records the highest position it removed (`change_log_pruned`).
 */
export async function pruneHistory(dbPath: string): Promise<number> {
  const [row] = await storedRows<{ n: number }>(dbPath, 'select count(*) as n from status_events');
  if (TEST_STORE === 'postgres') {
    await storedRows(
      dbPath,
      'with gone as (delete from status_events where id < (select max(id) from status_events) returning id) ' +
        'insert into change_log_pruned (id, position) select 1, max(id) from gone ' +
        'on conflict (id) do update set position = greatest(change_log_pruned.position, excluded.position)',
    );
  } else {
    await storedRows(dbPath, 'delete from status_events where id < (select max(id) from status_events)');
  }
  return (row?.n ?? 1) - 1;
}

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  data?: T;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** A GraphQL request over real HTTP. */
export async function gql<T = Record<string, any>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<T>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as Omit<GraphQLResponse<T>, 'status'>;
  return { status: response.status, ...body };
}

/** The real graphql-ws client over a real WebSocket. */
export function wsClient(url: string, connectionParams?: Record<string, unknown>): Client {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: true,
  });
}

export interface Collected<T> {
  events: T[];
  errors: unknown[];
  /** Resolves when the server completes the subscription. */
  completed: Promise<void>;
  /** Resolves once the subscription has at least `n` events. */
  waitFor(n: number, timeoutMs?: number): Promise<T[]>;
  unsubscribe(): void;
}

/** Subscribes and records every event the server sends. */
export function collect<T = any>(client: Client, query: string, variables?: Record<string, unknown>): Collected<T> {
  const events: T[] = [];
  const errors: unknown[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let resolveCompleted: () => void = () => {};
  const completed = new Promise<void>((resolve) => {
    resolveCompleted = resolve;
  });
  const notify = () => {
    for (const waiter of [...waiters]) {
      if (events.length >= waiter.n) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };
  const unsubscribe = client.subscribe<T>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors) errors.push(...result.errors);
        if (result.data) events.push(result.data as T);
        notify();
      },
      error: (error) => {
        errors.push(error);
        resolveCompleted();
      },
      complete: () => resolveCompleted(),
    },
  );
  return {
    events,
    errors,
    completed,
    unsubscribe,
    waitFor(n, timeoutMs = 10_000) {
      if (events.length >= n) return Promise.resolve(events);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`expected ${n} events, got ${events.length}: ${JSON.stringify(events)}`)),
          timeoutMs,
        );
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(events);
          },
        });
      });
    },
  };
}

/** Polls `check` until it returns a truthy value. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
  intervalMs = 20,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last as NonNullable<T>;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

export const LIVESTREAM_FIELDS = `id provider roomId externalId status vendorStatus version playbackUrl
  ingest { rtmpUrl streamKey whipUrl } failureReason startedAt stoppedAt createdAt updatedAt`;
export const RECORDING_FIELDS = `id provider roomId externalId status vendorStatus version failureReason
  startedAt stoppedAt createdAt updatedAt assets { id type path size durationSeconds url urlExpiresAt }`;

export const START_LIVESTREAM = `mutation Start($input: StartLivestreamInput!) {
  startLivestream(input: $input) {
    __typename
    ... on StartLivestreamSuccess { livestream { ${LIVESTREAM_FIELDS} } }
    ... on Error { message code }
    ... on ConflictError { activeLivestream { id status } }
    ... on ProviderError { provider }
    ... on ValidationError { field }
  }
}`;
export const STOP_LIVESTREAM = `mutation Stop($id: ID!) {
  stopLivestream(input: { id: $id }) {
    __typename
    ... on StopLivestreamSuccess { livestream { ${LIVESTREAM_FIELDS} } }
    ... on Error { message code }
  }
}`;
export const START_RECORDING = `mutation Start($input: StartRecordingInput!) {
  startRecording(input: $input) {
    __typename
    ... on StartRecordingSuccess { recording { ${RECORDING_FIELDS} } }
    ... on Error { message code }
    ... on ConflictError { activeRecording { id status } }
    ... on ProviderError { provider }
    ... on ValidationError { field }
  }
}`;
export const STOP_RECORDING = `mutation Stop($id: ID!) {
  stopRecording(input: { id: $id }) {
    __typename
    ... on StopRecordingSuccess { recording { ${RECORDING_FIELDS} } }
    ... on Error { message code }
  }
}`;
