import { z } from 'zod';
import { PROVIDERS, type ProviderId } from '../domain/status.js';
import type { RoomAutomationRecord } from '../domain/types.js';
import { parseInput } from '../domain/validation.js';
import type { Store } from '../store/store.js';

const automationSchema = z.object({
  provider: z.enum(PROVIDERS),
  roomId: z.string().trim().min(1, { error: 'must not be empty' }).max(256),
  recordOn: z.enum(['SESSION_START', 'FIRST_PEER_JOIN', 'NEVER']),
  stopWhenEmpty: z.boolean(),
});

export interface RoomAutomationInput {
  provider?: ProviderId | null;
  roomId: string;
  recordOn: RoomAutomationRecord['recordOn'];
  stopWhenEmpty?: boolean | null;
}

/** Per-room recording automation rules. */
export class AutomationService {
  constructor(
    private readonly store: Store,
    private readonly defaultProvider: ProviderId,
  ) {}

  setRule(input: RoomAutomationInput): RoomAutomationRecord {
    const valid = parseInput(automationSchema, {
      ...input,
      provider: input.provider ?? this.defaultProvider,
      stopWhenEmpty: input.stopWhenEmpty ?? false,
    });
    const rule: RoomAutomationRecord = { ...valid, updatedAt: new Date() };
    this.store.upsertAutomation(rule);
    return rule;
  }
}
