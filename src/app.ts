import type { Config } from './config.js';
import { StreamEvents } from './events.js';
import { createHttpApp, type HttpApp } from './http/server.js';
import { PollSchedule, StreamLifecycle } from './lifecycle/index.js';
import type { Logger } from './logger.js';
import { recent } from './observability/recent.js';
import { flushTracing, startTracing } from './observability/tracing.js';
import { instrumentProvider } from './observability/vendor-calls.js';
import { createProviders, type ProviderRegistry } from './providers/index.js';
import type { Replication } from './replicas/replication.js';
import { Pruner } from './retention/pruner.js';
import type { AppServices } from './schema/context.js';
import { RecordingAssetService } from './service/assets.js';
import { AutomationService } from './service/automation.js';
import { StreamService } from './service/streams.js';
import { SqliteStore } from './store/sqlite/store.js';
import type { Store } from './store/types.js';
import { Intake } from './sync/intake.js';
import { Poller } from './sync/poller.js';
import { WebhookIntake } from './sync/webhooks.js';

/** How long a shutdown waits for the tracing exporter to send what it buffered. */
const TRACE_FLUSH_MS = 1000;

export interface App {
  services: AppServices;
  intake: Intake;
  poller: Poller;
  webhooks: WebhookIntake;
  /** Retention: prunes in the background once started; `run` prunes now. */
  retention: Pruner;
  http: HttpApp;
  /** Listens on `config.port` (0 picks a free port); resolves with the bound port. */
  start(): Promise<number>;
  /** Graceful: stop accepting, complete subscriptions, close sockets, stop polling, close the database. */
  stop(): Promise<void>;
}

/**
 * Wires config → database (migrated) → lifecycle → intake → providers → services → HTTP server →
 * poller, each built from what comes before it.
 *
 * What only PostgreSQL or replicas need (node-postgres, drizzle's PostgreSQL dialect, ioredis, the
 * change-log tailer) is imported here only when configured: the default (one process on SQLite)
 * does not load it, which is a good part of its cold start (bench/README.md, issue 17).
 */
export async function buildApp(config: Config, logger: Logger): Promise<App> {
  // SQLite (a file path) is the embedded default; DATABASE_URL=postgres://… is the store of replicas.
  let store: Store;
  let open: (() => Promise<void>) | undefined;
  if (config.database.kind === 'postgres') {
    const { PostgresStore } = await import('./store/postgres/store.js');
    const postgres = new PostgresStore(config.database, logger);
    store = postgres;
    // The migrations (under their lock) are applied before anything is served.
    open = () => postgres.open();
  } else {
    store = new SqliteStore(config.database.path);
  }
  const events = new StreamEvents();
  // Several replicas (PostgreSQL or Redis configured): changes reach subscribers through the change
  // log, and vendors' poll budgets are shared; one process: straight from the lifecycle.
  let replication: Replication | null = null;
  if (config.redisUrl || config.database.kind === 'postgres') {
    const { createReplication } = await import('./replicas/replication.js');
    replication = createReplication(config, store, events, logger);
  }
  const schedule = new PollSchedule(config.polling);
  const lifecycle = new StreamLifecycle(store, replication?.publisher ?? events, schedule);
  const intake = new Intake(store, lifecycle, logger);
  // Providers that push events (the sandbox) report them to the intake, as webhooks do.
  const providers: ProviderRegistry = createProviders(config, {
    report: (event) => {
      intake.receive(event).catch((error: unknown) => {
        logger.error({ err: error, provider: event.provider }, 'vendor event could not be applied');
      });
    },
  });
  for (const provider of providers.list()) instrumentProvider(provider);
  recent.configureBudgets(config.polling.budget, config.polling.budgetWindowMs);
  const streams = new StreamService(store, lifecycle, providers, config.defaultProvider, config.urls, logger);
  const automation = new AutomationService(store, config.defaultProvider, streams, config.urls, logger);
  const poller = new Poller(
    store,
    providers,
    intake,
    schedule,
    { ...config.polling, stopTimeoutMs: config.shutdownTimeoutMs },
    logger,
    replication?.pollBudget,
  );
  const webhooks = new WebhookIntake(store, providers, intake, config.webhooks, logger);
  webhooks.onRoomEvent((event) => automation.onRoomEvent(event));
  const assets = new RecordingAssetService(store, providers, logger);
  const services: AppServices = { store, events, providers, streams, automation, assets };
  const http = createHttpApp(services, config, logger, webhooks);
  const retention = new Pruner(store, config.retention, logger);

  let stopping: Promise<void> | undefined;
  return {
    services,
    intake,
    poller,
    webhooks,
    retention,
    http,
    async start() {
      await startTracing(config.tracing);
      await open?.();
      await replication?.start();
      const port = await http.listen(config.port);
      // Deliveries recorded but not applied (stream unknown then, or a crash in between) are
      // retried now and whenever a stream learns its vendor id.
      webhooks.watch(events);
      webhooks.retryPending().catch((error: unknown) => {
        logger.error({ err: error }, 'retrying pending webhook deliveries failed');
      });
      await poller.start();
      retention.start();
      // Callback subscriptions registered before (with this replica or another) are taken over.
      await http.callbacks.start();
      return port;
    },
    stop() {
      stopping ??= (async () => {
        // Both wait at most SHUTDOWN_TIMEOUT_MS, side by side, so the poller releases its leases in time.
        await Promise.all([http.close(config.shutdownTimeoutMs), poller.stop(), retention.stop()]);
        await automation.idle();
        await replication?.stop();
        providers.close();
        await store.close();
        // Within the 2 s main.ts leaves after the HTTP drain's own bound.
        if (!(await flushTracing(TRACE_FLUSH_MS))) {
          logger.warn({ url: config.tracing.tracesUrl }, 'tracing: buffered spans not sent before shutdown');
        }
      })();
      return stopping;
    },
  };
}
