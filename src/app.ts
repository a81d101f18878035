import type { Config } from './config.js';
import { StreamEvents } from './events.js';
import { createHttpApp, type HttpApp } from './http/server.js';
import type { Logger } from './logger.js';
import { createProviders, type ProviderRegistry } from './providers/index.js';
import type { AppServices } from './schema/context.js';
import { AutomationService } from './service/automation.js';
import { StreamService } from './service/streams.js';
import { Store } from './store/store.js';
import { Intake } from './sync/intake.js';
import { Poller } from './sync/poller.js';
import { WebhookIntake } from './sync/webhooks.js';

export interface App {
  services: AppServices;
  intake: Intake;
  poller: Poller;
  webhooks: WebhookIntake;
  http: HttpApp;
  /** Listens on `config.port` (0 picks a free port); resolves with the bound port. */
  start(): Promise<number>;
  /** Graceful: stop accepting, complete subscriptions, close sockets, stop polling, close the database. */
  stop(): Promise<void>;
}

/** Wires config → database (migrated) → providers → service → intake → HTTP server → poller. */
export function buildApp(config: Config, logger: Logger): App {
  const store = new Store(config.databaseUrl);
  const events = new StreamEvents();
  // Providers report pushed events to the intake, which needs the service, which needs providers.
  let intake: Intake | undefined;
  const providers: ProviderRegistry = createProviders(config, {
    report: (event) => {
      try {
        intake?.receive(event);
      } catch (error) {
        logger.error({ err: error, provider: event.provider }, 'vendor event could not be applied');
      }
    },
  });
  const streams = new StreamService(store, events, providers, config.defaultProvider, logger);
  const automation = new AutomationService(store, config.defaultProvider);
  intake = new Intake(store, streams, logger);
  const poller = new Poller(store, providers, intake, config.pollIntervalMs, logger);
  const webhooks = new WebhookIntake(store, providers, intake, logger);
  const services: AppServices = { store, events, providers, streams, automation };
  const http = createHttpApp(services, config, logger, webhooks);

  let stopping: Promise<void> | undefined;
  return {
    services,
    intake,
    poller,
    webhooks,
    http,
    async start() {
      const port = await http.listen(config.port);
      poller.start();
      return port;
    },
    stop() {
      stopping ??= (async () => {
        await http.close(config.shutdownTimeoutMs);
        await poller.stop();
        providers.close();
        store.close();
      })();
      return stopping;
    },
  };
}
