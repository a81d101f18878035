import type { Logger } from 'pino';
import type { StreamKind } from '../domain/status.js';
import type { StreamRecord } from '../domain/types.js';
import type { ProviderRegistry } from '../providers/index.js';
import type { Store } from '../store/store.js';
import type { Intake } from './intake.js';

/**
 * Reads every stream that is not final from its vendor, so a lost webhook is healed. Each round
 * runs after the previous one has finished, `intervalMs` apart.
 */
export class Poller {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly providers: ProviderRegistry,
    private readonly intake: Intake,
    private readonly intervalMs: number,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass over every stream that is not final. */
  async pollOnce(): Promise<void> {
    for (const kind of ['livestream', 'recording'] as const) {
      for (const stream of this.store.listNotFinal(kind)) {
        if (this.stopped) return;
        await this.pollStream(kind, stream);
      }
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pollOnce()
        .catch((error: unknown) => this.logger.error({ err: error }, 'poll round failed'))
        .finally(() => {
          this.running = null;
          this.schedule();
        });
    }, this.intervalMs);
    this.timer.unref();
  }

  private async pollStream(kind: StreamKind, stream: StreamRecord): Promise<void> {
    const provider = this.providers.get(stream.provider);
    if (!provider.configured || !stream.externalId) return;
    try {
      const ref = {
        id: stream.id,
        roomId: stream.roomId,
        externalId: stream.externalId,
        sessionId: stream.sessionId,
        status: stream.status,
      };
      const observation =
        kind === 'livestream' ? await provider.fetchLivestream(ref) : await provider.fetchRecording(ref);
      if (observation) this.intake.observed(kind, stream.id, observation);
    } catch (error) {
      this.logger.warn({ err: error, kind, streamId: stream.id, provider: stream.provider }, 'poll failed');
    }
  }
}
