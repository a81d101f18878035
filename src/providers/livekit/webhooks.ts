import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { ParsedWebhook, RoomEvent, VendorEvent, WebhookHandler } from '../provider.js';
import { MalformedWebhookError, readWebhookBody } from '../webhook-body.js';
import { camelizeKeys, egressInfoSchema, egressKind, egressObservation, UnknownEgressStatusError } from './egress.js';
import { redactSecrets } from './redact.js';

/**
 * LiveKit webhooks: `Authorization` is the JWT itself (no `Bearer`), HS256 with the API secret,
 * `iss` = API key, and its `sha256` claim is base64(SHA-256(raw body)). Bodies are camelCase
 * (`egressInfo.egressId`); snake_case is read too. Each carries its own `id`, the delivery id.
 */

const PROVIDER = 'LIVEKIT' as const;

/** LiveKit signs webhook tokens for a few minutes; this much clock skew is forgiven. */
const CLOCK_TOLERANCE_SECONDS = 60;

const EGRESS_EVENTS = new Set(['egress_started', 'egress_updated', 'egress_ended']);

const envelopeSchema = z.object({
  event: z.string().min(1),
  id: z.string().nullish(),
  createdAt: z.union([z.string(), z.number()]).nullish(),
});

const roomSchema = z.object({ name: z.string().min(1), sid: z.string().nullish() });

/** `ParticipantInfo.kind`: STANDARD, INGRESS, EGRESS, SIP, AGENT (name or enum number). */
const PARTICIPANT_KINDS = ['STANDARD', 'INGRESS', 'EGRESS', 'SIP', 'AGENT'] as const;
/** LiveKit's own workers in a room: recorders and streamers (egress) and AI agents are not people. */
const BOT_KINDS = new Set(['EGRESS', 'AGENT']);

const participantSchema = z.object({
  sid: z.string().nullish(),
  identity: z.string().nullish(),
  kind: z.union([z.string(), z.number()]).nullish(),
});

const egressEventSchema = z.object({ egressInfo: egressInfoSchema });
const roomEventSchema = z.object({ room: roomSchema });
const participantEventSchema = z.object({ room: roomSchema, participant: participantSchema });

export class LivekitWebhookHandler implements WebhookHandler {
  private readonly secret: Uint8Array;

  constructor(
    private readonly apiKey: string,
    private readonly apiSecret: string,
  ) {
    this.secret = new TextEncoder().encode(apiSecret);
  }

  async verify(rawBody: Buffer, headers: Readonly<Record<string, string | undefined>>): Promise<boolean> {
    const token = headers.authorization?.trim();
    if (!token) return false;
    let claimed: unknown;
    try {
      // jose is imported when first needed, not at start (cold start, issue 17).
      const { payload } = await (await import('jose')).jwtVerify(token, this.secret, {
        algorithms: ['HS256'],
        issuer: this.apiKey,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      });
      claimed = payload.sha256;
    } catch {
      return false;
    }
    if (typeof claimed !== 'string') return false;
    const actual = createHash('sha256').update(rawBody).digest();
    const expected = Buffer.from(claimed, 'base64');
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }

  deliveryId(body: unknown): string | null {
    if (typeof body !== 'object' || body === null || !('id' in body)) return null;
    return typeof body.id === 'string' && body.id ? body.id : null;
  }

  parse(body: unknown, deliveryId: string): ParsedWebhook {
    const camel = camelizeKeys(body);
    const envelope = readWebhookBody(PROVIDER, envelopeSchema, camel);
    const eventType = envelope.event;
    const at = toDate(envelope.createdAt);
    if (EGRESS_EVENTS.has(eventType)) {
      return { eventType, events: this.egressEvents(camel, deliveryId, body), roomEvents: [] };
    }
    if (eventType === 'room_started' || eventType === 'room_finished') {
      const { room } = readWebhookBody(PROVIDER, roomEventSchema, camel);
      return {
        eventType,
        events: [],
        roomEvents: [
          {
            provider: PROVIDER,
            roomId: room.name,
            sessionId: room.sid ?? null,
            type: eventType === 'room_started' ? 'SESSION_STARTED' : 'SESSION_ENDED',
            ...(at ? { at } : {}),
          },
        ],
      };
    }
    if (eventType === 'participant_joined' || eventType === 'participant_left') {
      const { room, participant } = readWebhookBody(PROVIDER, participantEventSchema, camel);
      const peerId = participant.identity || participant.sid;
      if (!peerId) throw new MalformedWebhookError(`LIVEKIT ${eventType} without a participant identity`);
      const roomEvent: RoomEvent = {
        provider: PROVIDER,
        roomId: room.name,
        sessionId: room.sid ?? null,
        type: eventType === 'participant_joined' ? 'PEER_JOINED' : 'PEER_LEFT',
        peerId,
        realPeer: !BOT_KINDS.has(participantKind(participant.kind)),
        ...(at ? { at } : {}),
      };
      return { eventType, events: [], roomEvents: [roomEvent] };
    }
    // Verified, but nothing we act on (track_published, ingress_*, ...): recorded only.
    return { eventType, events: [], roomEvents: [] };
  }

  private egressEvents(camel: unknown, deliveryId: string, payload: unknown): VendorEvent[] {
    const { egressInfo } = readWebhookBody(PROVIDER, egressEventSchema, camel);
    if (!egressInfo.egressId) throw new MalformedWebhookError('LIVEKIT egress event without egressInfo.egressId');
    // Neither a stream nor a file egress (a track egress, say): never one of ours.
    const kind = egressKind(egressInfo);
    if (!kind) return [];
    let observation: VendorEvent['observation'];
    try {
      observation = egressObservation(kind, egressInfo);
    } catch (error) {
      if (error instanceof UnknownEgressStatusError) throw new MalformedWebhookError(error.message);
      throw error;
    }
    if (observation.failureReason) {
      observation.failureReason = redactSecrets(observation.failureReason, [this.apiSecret, this.apiKey]);
    }
    return [
      {
        provider: PROVIDER,
        kind,
        externalId: egressInfo.egressId,
        roomId: egressInfo.roomName ?? null,
        sessionId: egressInfo.roomId ?? null,
        eventId: deliveryId,
        observation,
        payload,
      },
    ];
  }
}

function participantKind(raw: string | number | null | undefined): string {
  if (typeof raw === 'number') return PARTICIPANT_KINDS[raw] ?? 'STANDARD';
  return raw ? raw.toUpperCase() : 'STANDARD';
}

/** `createdAt` is Unix seconds (int64, so maybe a string). */
function toDate(value: string | number | null | undefined): Date | null {
  if (value === null || value === undefined || value === '') return null;
  const seconds = Number(value);
  return Number.isFinite(seconds) && seconds > 0 ? new Date(seconds * 1000) : null;
}
