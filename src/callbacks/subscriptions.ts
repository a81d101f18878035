import { randomUUID } from 'node:crypto';
import { type ExecutionResult, GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import { type CallbackUrlPolicy, callbackUrlProblem } from '../domain/callback-urls.js';
import type { CallbackRegistration, RegisteredCaller, Store } from '../store/types.js';
import { CallbackEmission, type EmissionHost, formatError, isResults, type SubscribeOperation } from './emission.js';
import { confirmsCheck, subscriptionExtension } from './protocol.js';
import { CallbackSender } from './sender.js';

export interface CallbackOptions {
  urls: CallbackUrlPolicy;
  timeoutMs: number;
  maxRetries: number;
  /** Registrations kept at once, every replica together (CALLBACK_MAX_SUBSCRIPTIONS). */
  maxSubscriptions: number;
  /** How long a replica's hold on a registration lasts without renewal (CALLBACK_LEASE_MS). */
  leaseMs: number;
}

/** A router's subscription request, once its caller is authenticated. */
export interface CallbackRequest {
  /** `extensions.subscription` as sent (checked here). */
  extension: unknown;
  query: string;
  operationName: string | null;
  variables: Record<string, unknown> | null;
  caller: RegisteredCaller;
}

/** Largest operation (query and variables) kept for a registration. */
export const MAX_OPERATION_BYTES = 64 * 1024;
/** Registrations one replica takes over per lease tick. */
const CLAIM_BATCH = 1000;

function refused(message: string, code: string): ExecutionResult {
  return { errors: [new GraphQLError(message, { extensions: { code } })] };
}

/**
 * The callback subscriptions of this replica (Apollo's HTTP callback protocol). `register` takes a
 * router's request: the operation is subscribed first (so nothing is missed), then the router's
 * callback URL is checked, then the registration is stored under this replica's lease and emitted.
 * Every tick the leases are renewed, with the positions delivered since; registrations whose
 * lease is free (another replica stopped, or this one restarted) are taken over and resume after
 * their last delivered change.
 */
export class CallbackSubscriptions implements EmissionHost {
  readonly owner = randomUUID();
  readonly sender: CallbackSender;
  private readonly running = new Map<string, CallbackEmission>();
  /** Positions delivered since the last tick, written with the next renewal. */
  private positions = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private stopped = false;
  private operation: SubscribeOperation | null = null;

  constructor(
    private readonly store: Store,
    private readonly options: CallbackOptions,
    readonly logger: Logger,
  ) {
    this.sender = new CallbackSender(options);
  }

  /** How a registration's operation runs (set once the GraphQL pipeline exists). */
  useOperation(operation: SubscribeOperation): void {
    this.operation = operation;
  }

  get subscribe(): SubscribeOperation {
    if (!this.operation) throw new Error('callback subscriptions have no operation runner');
    return this.operation;
  }

  /** Callback subscriptions this replica emits now. */
  get emitting(): number {
    return this.running.size;
  }

  async register(request: CallbackRequest): Promise<ExecutionResult> {
    const parsed = subscriptionExtension.safeParse(request.extension);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return refused(`extensions.subscription: ${issue?.message ?? 'invalid'}`, 'VALIDATION');
    }
    const extension = parsed.data;
    const problem = callbackUrlProblem(extension.callbackUrl, this.options.urls);
    if (problem) return refused(problem, 'CALLBACK_REFUSED');
    const size = Buffer.byteLength(request.query) + Buffer.byteLength(JSON.stringify(request.variables ?? null));
    if (size > MAX_OPERATION_BYTES) {
      return refused(`The operation is larger than ${MAX_OPERATION_BYTES} bytes`, 'CALLBACK_REFUSED');
    }
    if (this.stopped) return refused('The service is shutting down', 'CALLBACK_REFUSED');
    if ((await this.store.callbacks.count()) >= this.options.maxSubscriptions) {
      return refused(
        `Too many callback subscriptions (at most ${this.options.maxSubscriptions})`,
        'TOO_MANY_SUBSCRIPTIONS',
      );
    }
    const registration: CallbackRegistration = {
      id: extension.subscriptionId,
      callbackUrl: extension.callbackUrl,
      verifier: extension.verifier,
      heartbeatIntervalMs: extension.heartbeatIntervalMs,
      query: request.query,
      operationName: request.operationName,
      variables: request.variables,
      caller: request.caller,
      position: null,
      createdAt: new Date(),
    };
    const emission = new CallbackEmission(registration, this);
    // Where a replica taking over resumes if this one dies before it records a delivered change:
    // the log's head before subscribing, so nothing committed after the subscription began is
    // skipped (a change in between may be sent twice, which a takeover after a crash allows).
    const startedAfter = await this.store.changes.head();
    const result = await this.subscribe(registration, emission);
    if (!isResults(result)) return result;
    // The router confirms it expects this subscription before it is answered (and stored).
    const check = await this.sender.send(registration.callbackUrl, {
      kind: 'subscription',
      action: 'check',
      id: registration.id,
      verifier: registration.verifier,
    });
    if (!confirmsCheck(check.status, check.protocol)) {
      void result.return?.();
      return refused(
        `The callback URL did not confirm the subscription (check answered ${check.status || 'nothing'})`,
        'CALLBACK_CHECK_FAILED',
      );
    }
    const now = Date.now();
    // Registrations arriving together share one durable commit (a router registers many at once).
    const leaseUntil = new Date(now + this.options.leaseMs);
    const stored = { ...registration, position: startedAfter };
    if (!(await this.store.groupTransaction(() => this.store.callbacks.add(stored, this.owner, leaseUntil)))) {
      void result.return?.();
      return refused(`Subscription ${registration.id} is already registered`, 'CALLBACK_REFUSED');
    }
    if (this.stopped) {
      // Stopped meanwhile: stored, so whoever holds it next (once this lease expires) emits it.
      void result.return?.();
      return { data: null };
    }
    this.running.set(registration.id, emission);
    emission.start(result);
    return { data: null };
  }

  delivered(id: string, position: number): void {
    if (this.running.has(id)) this.positions.set(id, position);
  }

  ended(id: string): void {
    this.running.delete(id);
    this.positions.delete(id);
    this.store.callbacks.remove(id).catch((error: unknown) => {
      this.logger.error({ err: error, subscription: id }, 'callback registration could not be removed');
    });
  }

  /** Takes over free registrations now, then renews and claims every tick. */
  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(
      () => {
        this.ticking ??= this.tick().finally(() => {
          this.ticking = null;
        });
      },
      Math.min(1000, this.options.leaseMs / 3),
    );
    this.timer.unref();
  }

  /** Stops emitting (no `complete`: the registrations stay) and gives up this replica's leases. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    for (const emission of this.running.values()) emission.stop();
    this.running.clear();
    const positions = this.positions;
    this.positions = new Map();
    try {
      await this.store.callbacks.release(this.owner, positions);
    } catch (error) {
      this.logger.error({ err: error }, 'callback leases could not be released');
    }
    this.sender.close();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      const now = Date.now();
      const leaseUntil = new Date(now + this.options.leaseMs);
      const positions = this.positions;
      this.positions = new Map();
      const before = [...this.running.keys()];
      const held = await this.store.callbacks.renew(this.owner, new Date(now), leaseUntil, positions);
      for (const id of before) {
        if (held.has(id)) continue;
        // Taken over (this replica stalled past its lease) or removed: another emits it now.
        this.running.get(id)?.stop();
        this.running.delete(id);
      }
      const claimed = await this.store.callbacks.claim(this.owner, new Date(now), leaseUntil, CLAIM_BATCH);
      await Promise.all(claimed.map((registration) => this.resume(registration)));
    } catch (error) {
      this.logger.error({ err: error }, 'callback subscriptions: lease tick failed');
    }
  }

  /** Emits a registration taken over, after its last delivered change. */
  private async resume(registration: CallbackRegistration): Promise<void> {
    if (this.stopped || this.running.has(registration.id)) return;
    const emission = new CallbackEmission(registration, this);
    this.running.set(registration.id, emission);
    let result: Awaited<ReturnType<SubscribeOperation>>;
    try {
      result = await this.subscribe(registration, emission);
    } catch (error) {
      await emission.complete([formatError(error)]);
      return;
    }
    if (this.stopped || this.running.get(registration.id) !== emission) {
      if (isResults(result)) void result.return?.();
      return;
    }
    if (isResults(result)) emission.start(result);
    else await emission.complete((result.errors ?? []).map(formatError));
  }
}
