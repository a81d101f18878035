import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * The worker's code: its own connection to the database, answering each message with a PASSIVE
 * checkpoint (copies the log's committed frames into the database file and flushes both, never
 * waiting for a writer). A string evaluated as CommonJS so that the bundled dist/ needs no file
 * of its own for it.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const sqlite = new Database(workerData.path);
sqlite.pragma('busy_timeout = 5000');
parentPort.on('message', () => {
  try {
    sqlite.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage(null);
  } catch (error) {
    parentPort.postMessage(String(error && error.message));
  }
});
`;

/**
 * WAL checkpoints off the event loop, for retention's batches: SQLite's automatic checkpoint runs
 * inside the COMMIT that crosses 1,000 log pages, on the event loop, copying those pages and
 * flushing the database file while every webhook waits. A prune batch writes about 140 pages, so
 * pruning checkpointed on the event loop every few batches (bench/README.md, "Retention,
 * 2026-12-05 session"). While a batch runs and until its pages are checkpointed here, the
 * connection's automatic checkpoint is off; a checkpoint that fails or cannot finish leaves the
 * rest to the automatic one, as before.
 *
 * The worker (a thread with a connection of its own) starts once retention is scheduled
 * (`prepare`), or else on the first checkpoint asked for, and stays for the next runs; `close` ends it.
 */
export class Checkpointer {
  private worker: Worker | undefined;
  private waiting: ((failure: string | null) => void)[] = [];
  private closed = false;

  constructor(private readonly path: string) {}

  /** Settles once a checkpoint of everything committed before this call has run (or failed). */
  checkpoint(): Promise<void> {
    // Closed with the store: a batch still finishing leaves its pages to the closing connection.
    if (this.closed) return Promise.resolve();
    const worker = this.start();
    return new Promise<void>((resolve) => {
      this.waiting.push(() => resolve());
      worker.postMessage(null);
    });
  }

  /**
   * Starts the thread ahead of the first batch; settles once its connection is open (a first
   * checkpoint done). Booting it (an isolate, the driver, the connection) costs about 100 ms of
   * CPU: started by a run's third batch, it made that run wait for it and shared the machine's
   * cores with the webhooks the run began beside (bench/README.md, "Retention, 2026-12-06,
   * afternoon session").
   */
  prepare(): Promise<void> {
    return this.checkpoint();
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
    for (const resolve of this.waiting.splice(0)) resolve('closed');
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER, { eval: true, workerData: { path: this.path, driver } });
    worker.unref();
    worker.on('message', (failure: string | null) => this.waiting.shift()?.(failure));
    // A worker that cannot open the file or dies: its callers go on (the automatic checkpoint
    // takes over), the next batch starts another.
    const end = () => {
      if (this.worker === worker) this.worker = undefined;
      for (const resolve of this.waiting.splice(0)) resolve('worker ended');
    };
    worker.on('error', end);
    worker.on('exit', end);
    this.worker = worker;
    return worker;
  }
}
