import type { Logger } from 'pino';
import { ConflictError } from '../domain/errors.js';
import { roomAutomationInput } from '../domain/inputs.js';
import type { ProviderId } from '../domain/status.js';
import type { RecordingRecord, RoomAutomationRecord } from '../domain/types.js';
import { parseInput } from '../domain/validation.js';
import type { RoomEvent } from '../providers/provider.js';
import type { Store } from '../store/types.js';
import type { StreamService } from './streams.js';

export interface RoomAutomationInput {
  provider?: ProviderId | null;
  roomId: string;
  recordOn: RoomAutomationRecord['recordOn'];
  stopWhenEmpty?: boolean | null;
  meetingUrl?: string | null;
}

/**
 * Per-room recording automation (seed 004): a rule says when to start recording (the session
 * opens, or the first real peer joins) and whether to stop as soon as the last real peer leaves
 * rather than after the vendor's own 5-minute timeout. It acts on the room events of verified
 * webhooks, through the same StreamService a mutation uses.
 */
export class AutomationService {
  /** One queue per room, so a room's events are acted on in the order they arrived. */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(
    private readonly store: Store,
    private readonly defaultProvider: ProviderId,
    private readonly streams: StreamService,
    private readonly logger: Logger,
  ) {}

  async setRule(input: RoomAutomationInput): Promise<RoomAutomationRecord> {
    const valid = parseInput(roomAutomationInput, {
      ...input,
      provider: input.provider ?? this.defaultProvider,
      stopWhenEmpty: input.stopWhenEmpty ?? false,
      meetingUrl: input.meetingUrl ?? null,
    });
    const rule: RoomAutomationRecord = { ...valid, updatedAt: new Date() };
    await this.store.rooms.upsertAutomation(rule);
    return rule;
  }

  /**
   * Takes a room event and answers at once: vendors want their webhook answered fast, and a
   * recording start is a vendor call. The work runs behind the room's earlier events; a failure
   * is logged, never thrown back at the webhook.
   */
  onRoomEvent(event: RoomEvent): void {
    const key = `${event.provider}\u0000${event.roomId}`;
    const previous = this.queues.get(key) ?? Promise.resolve();
    const next = previous
      .then(() => this.handle(event))
      .catch((error: unknown) => {
        this.logger.error(
          { err: error, provider: event.provider, roomId: event.roomId, type: event.type },
          'recording automation failed',
        );
      });
    this.queues.set(key, next);
    void next.finally(() => {
      if (this.queues.get(key) === next) this.queues.delete(key);
    });
  }

  /** Resolves once every room event taken so far has been acted on (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.queues.size > 0) await Promise.all([...this.queues.values()]);
  }

  private async handle(event: RoomEvent): Promise<void> {
    const { provider, roomId } = event;
    const at = event.at ?? new Date();
    // Presence is kept whatever the rule, so a rule set mid-session knows who is there.
    const real = event.realPeer !== false;
    if (event.type === 'PEER_JOINED' && real && event.peerId)
      await this.store.rooms.addPeer(provider, roomId, event.peerId, at);
    if (event.type === 'PEER_LEFT' && real && event.peerId) {
      await this.store.rooms.removePeer(provider, roomId, event.peerId);
    }
    if (event.type === 'SESSION_ENDED') await this.store.rooms.clearPeers(provider, roomId);

    const rule = await this.store.rooms.getAutomation(provider, roomId);
    if (!rule) return;
    switch (event.type) {
      case 'SESSION_STARTED':
        if (rule.recordOn === 'SESSION_START') await this.startRecording(rule, event);
        return;
      case 'PEER_JOINED':
        if (rule.recordOn === 'FIRST_PEER_JOIN' && real) await this.startRecording(rule, event);
        return;
      case 'PEER_LEFT':
        if (rule.stopWhenEmpty && real && (await this.store.rooms.countPeers(provider, roomId)) === 0) {
          await this.stopRecording(rule, event);
        }
        return;
      case 'SESSION_ENDED':
        if (rule.stopWhenEmpty) await this.stopRecording(rule, event);
        return;
    }
  }

  /**
   * One recording per session: the idempotency key names the session, so a duplicate or a later
   * peer's event answers the recording already started, with no second vendor call.
   */
  private async startRecording(rule: RoomAutomationRecord, event: RoomEvent): Promise<void> {
    if (rule.recordOn === 'NEVER') return;
    const idempotencyKey = event.sessionId
      ? `automation:${rule.provider}:${rule.roomId}:${event.sessionId}`
      : // Without a session id only the one-active-recording-per-room rule prevents a second start.
        null;
    try {
      const recording = await this.streams.startRecording({
        provider: rule.provider,
        roomId: rule.roomId,
        meetingUrl: event.meetingUrl ?? rule.meetingUrl ?? null,
        idempotencyKey,
      });
      this.logger.info(
        { provider: rule.provider, roomId: rule.roomId, recordingId: recording.id, trigger: event.type },
        'automation started a recording',
      );
    } catch (error) {
      if (error instanceof ConflictError) {
        this.logger.info({ provider: rule.provider, roomId: rule.roomId }, 'automation: a recording is already active');
        return;
      }
      throw error;
    }
  }

  /** The room is empty: stop its active recording now instead of after the vendor's timeout. */
  private async stopRecording(rule: RoomAutomationRecord, event: RoomEvent): Promise<void> {
    const active = await this.store.streams.findActive('recording', rule.provider, rule.roomId);
    if (!active || active.status === 'STOPPING') return;
    let stopped: RecordingRecord;
    try {
      stopped = await this.streams.stopRecording(active.id);
    } catch (error) {
      // Still being started (no vendor id yet): the vendor's own timeout remains the safety net.
      if (!(error instanceof ConflictError)) throw error;
      this.logger.warn({ provider: rule.provider, roomId: rule.roomId, recordingId: active.id }, error.message);
      return;
    }
    this.logger.info(
      { provider: rule.provider, roomId: rule.roomId, recordingId: stopped.id, trigger: event.type },
      'automation stopped a recording: the room is empty',
    );
  }
}
