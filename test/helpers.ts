import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { type App, buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';

export interface TestServer {
  app: App;
  url: string;
  wsUrl: string;
  port: number;
  dbPath: string;
  /** Stops the service; the database file stays until `cleanup`. */
  stop(): Promise<void>;
  /** Stops (if running) and deletes the temp folder. */
  cleanup(): Promise<void>;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'livestream-test-'));
}

/** Starts the real service on a free port with a real SQLite file in a temp folder. */
export async function startServer(
  env: Record<string, string> = {},
  options: { dir?: string } = {},
): Promise<TestServer> {
  const dir = options.dir ?? tempDir();
  const dbPath = join(dir, 'livestreams.sqlite');
  const config = loadConfig({
    PORT: '0',
    DATABASE_URL: dbPath,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SANDBOX_STEP_MS: '50',
    POLL_INTERVAL_MS: '60000',
    ...env,
  });
  const app = buildApp(config, createLogger(config.logLevel));
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
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
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
