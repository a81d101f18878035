import { buildApp } from './app.js';
import { ConfigError, type DatabaseConfig, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { logDestination } from './observability/pretty.js';

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    // No configuration, so no configured logger: a default one (stdout, written synchronously)
    // says why the service cannot start, as one line like every other.
    const logger = createLogger('info', await logDestination());
    logger.fatal({ problems: error.problems }, error.message);
    logger.flush();
    process.exit(1);
  }
  throw error;
}

const logger = createLogger(config.logLevel, await logDestination());
const app = await buildApp(config, logger);
const port = await app.start();
// Signals are handled before the service says it listens: whoever waits for that line may stop it at once.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 2000);
    force.unref();
    app
      .stop()
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  });
}

const base = `http://localhost:${port}`;
logger.info(
  {
    port,
    database: describeDatabase(config.database),
    defaultProvider: config.defaultProvider,
    statusPage: `${base}/`,
    graphql: `${base}/graphql`,
    metrics: `${base}/metrics`,
    tracing: config.tracing.tracesUrl ?? 'off',
  },
  `livestream subgraph listening on ${base}: open ${base}/ for the status page` +
    (config.graphql.introspection ? `, ${base}/graphql for GraphiQL` : ''),
);

/** The database as logged: a PostgreSQL URL without its password. */
function describeDatabase(database: DatabaseConfig): string {
  if (database.kind === 'sqlite') return database.path;
  const url = new URL(database.url);
  if (url.password) url.password = '***';
  return url.toString();
}
