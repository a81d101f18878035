// The service under test, in its own process. Answers IPC commands from the benchmark.
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';

const config = loadConfig({ ...process.env, PORT: '0' });
const app = buildApp(config, createLogger(config.logLevel));
const port = await app.start();

process.on('message', async (message: { type: string; id: number; command: string; args?: unknown }) => {
  if (message.type !== 'call') return;
  let result: unknown = null;
  if (message.command === 'memory') {
    for (let i = 0; i < 3; i++) globalThis.gc?.();
    result = process.memoryUsage();
  } else if (message.command === 'subscribers') {
    result = app.services.events.subscriberCount;
  } else if (message.command === 'touch') {
    // One status report that changes a stream (its vendor status), through the real intake path.
    const { id, marker } = message.args as { id: string; marker: string };
    const stream = app.services.store.getStream('livestream', id);
    if (stream) {
      const startedAt = performance.timeOrigin + performance.now();
      app.intake.observed('livestream', id, { status: stream.status, vendorStatus: marker });
      result = startedAt;
    }
  }
  process.send?.({ type: 'result', id: message.id, result });
});
process.once('SIGTERM', () => {
  app.stop().finally(() => process.exit(0));
});
process.send?.({ type: 'ready', port });
