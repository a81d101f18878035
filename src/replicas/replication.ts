import type { Config } from '../config.js';
import type { ChangePublisher, StreamEvents } from '../events.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/types.js';
import type { PollBudgetFactory } from '../sync/poller.js';
import { ChangeSignal } from './change-signal.js';
import { ChangeTailer } from './change-tailer.js';
import { SharedPollBudget } from './poll-budget.js';

/** What running as one of several replicas changes in the wiring of the app. */
export interface Replication {
  /** Where the lifecycle hands committed changes (the change-log tailer, not the hub directly). */
  publisher: ChangePublisher;
  /** Each vendor's poll budget shared through Redis (undefined: the poller's own, per process). */
  pollBudget?: PollBudgetFactory;
  /** Starts tailing the change log (before the server accepts subscribers). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Replica mode: when PostgreSQL or Redis is configured, several processes may share the
 * database, so a change committed by any of them must reach every one's subscribers. Each runs
 * one change-log tailer (woken through Redis when there is one) and takes its vendors' poll
 * budgets from Redis. Null for one process on SQLite without Redis: changes then go straight
 * from the lifecycle to the in-process hub, as fast as before.
 */
export function createReplication(
  config: Config,
  store: Store,
  events: StreamEvents,
  logger: Logger,
): Replication | null {
  const { redisUrl } = config;
  if (!redisUrl && config.database.kind !== 'postgres') return null;
  let signal: ChangeSignal | null = null;
  let tailer: ChangeTailer | null = null;
  const polling = config.polling;
  return {
    publisher: { publish: (change) => tailer?.publish(change) },
    pollBudget: redisUrl
      ? (abort) =>
          new SharedPollBudget(
            redisUrl,
            {
              budget: polling.budget,
              windowMs: polling.budgetWindowMs,
              replicas: polling.budgetReplicas,
              signal: abort,
            },
            logger,
          )
      : undefined,
    async start() {
      if (tailer) return;
      signal = redisUrl ? new ChangeSignal(redisUrl, logger) : null;
      tailer = new ChangeTailer(store, events, signal, logger);
      await tailer.start();
      logger.info({ redis: redisUrl !== undefined }, 'replica mode: subscribers are fed from the change log');
    },
    async stop() {
      await tailer?.stop();
      await signal?.close();
    },
  };
}
