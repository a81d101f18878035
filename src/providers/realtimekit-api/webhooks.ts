import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { z } from 'zod';
import type { ProviderId } from '../../domain/status.js';
import type { VendorObservation } from '../../domain/types.js';
import type { ParsedWebhook, RoomEvent, VendorEvent, WebhookHandler } from '../provider.js';
import { MalformedWebhookError, readWebhookBody } from '../webhook-body.js';
import { optionalNumber, optionalText, type VendorLivestream, type VendorRecording } from './api.js';

/**
 * Webhooks of the RealtimeKit family (Cloudflare RealtimeKit, Dyte v2). Each delivery is signed:
 * `<prefix>-signature` is base64 RSA-SHA256 (PKCS#1 v1.5) over the raw body, verified with the
 * account's public key; `<prefix>-uuid` names the delivery. No timestamp is signed, so replays are
 * stopped by the delivery log, not here.
 */

export interface RealtimeKitWebhookOptions {
  provider: ProviderId;
  /** `rtk` (Cloudflare) or `dyte`. */
  headerPrefix: string;
  /** PEM public key from the vendor's dashboard. */
  publicKeyPem: string;
}

/** How the provider maps what a webhook reports: the same mapping its API answers go through. */
export interface RealtimeKitObserver {
  observeLivestreamUpdate(livestream: VendorLivestream): VendorObservation;
  observeRecording(recording: VendorRecording): VendorObservation;
}

const meetingSchema = z.object({
  id: z.string().min(1),
  sessionId: optionalText,
  startedAt: optionalText,
  endedAt: optionalText,
});

const livestreamUpdateSchema = z.object({
  event: z.literal('livestreaming.statusUpdate'),
  streamId: z.string().min(1),
  status: z.string().min(1),
  playbackUrl: optionalText,
  ingestServer: optionalText,
  streamKey: optionalText,
  meeting: meetingSchema.nullish(),
});

const recordingUpdateSchema = z.object({
  event: z.literal('recording.statusUpdate'),
  recording: z.object({
    id: z.string().min(1),
    status: z.string().min(1),
    meetingId: optionalText,
    sessionId: optionalText,
    outputFileName: optionalText,
    invokedTime: optionalText,
    startedTime: optionalText,
    stoppedTime: optionalText,
    recordingDuration: optionalNumber,
    downloadUrl: optionalText,
    downloadUrlExpiry: optionalText,
    audioDownloadUrl: optionalText,
    fileSize: optionalNumber,
    stopReason: optionalText,
  }),
  meeting: meetingSchema.nullish(),
});

const meetingEventSchema = z.object({
  event: z.enum(['meeting.started', 'meeting.ended']),
  meeting: meetingSchema,
});

const participantSchema = z.object({
  peerId: optionalText,
  id: optionalText,
  customParticipantId: optionalText,
  joinedAt: optionalText,
  leftAt: optionalText,
  // The vendor's recorder / livestreamer joins like a participant. How it is marked is not
  // documented: only an explicit flag makes it a bot, never a guess from names.
  isRecorder: z.boolean().nullish(),
  isBot: z.boolean().nullish(),
});

const participantEventSchema = z.object({
  event: z.enum(['meeting.participantJoined', 'meeting.participantLeft']),
  meeting: meetingSchema,
  participant: participantSchema,
});

const envelopeSchema = z.object({ event: z.string().min(1) });

export class RealtimeKitWebhookHandler implements WebhookHandler {
  private readonly publicKey: KeyObject;
  private readonly signatureHeader: string;
  private readonly deliveryHeader: string;

  constructor(
    private readonly options: RealtimeKitWebhookOptions,
    private readonly observer: RealtimeKitObserver,
  ) {
    // A key that does not parse stops the process at boot rather than refusing every delivery.
    this.publicKey = createPublicKey(options.publicKeyPem);
    this.signatureHeader = `${options.headerPrefix}-signature`;
    this.deliveryHeader = `${options.headerPrefix}-uuid`;
  }

  verify(rawBody: Buffer, headers: Readonly<Record<string, string | undefined>>): boolean {
    const signature = headers[this.signatureHeader]?.trim();
    if (!signature || !/^[A-Za-z0-9+/=_-]+$/.test(signature)) return false;
    return verify('sha256', rawBody, this.publicKey, Buffer.from(signature, 'base64'));
  }

  deliveryId(_body: unknown, headers: Readonly<Record<string, string | undefined>>): string | null {
    return headers[this.deliveryHeader]?.trim() || null;
  }

  parse(body: unknown, deliveryId: string): ParsedWebhook {
    const envelope = envelopeSchema.safeParse(body);
    if (!envelope.success) throw new MalformedWebhookError(`${this.options.provider} webhook without an event name`);
    const eventType = envelope.data.event;
    switch (eventType) {
      case 'livestreaming.statusUpdate':
        return this.livestreamUpdate(body, deliveryId);
      case 'recording.statusUpdate':
        return this.recordingUpdate(body, deliveryId);
      case 'meeting.started':
      case 'meeting.ended':
        return this.meetingEvent(body);
      case 'meeting.participantJoined':
      case 'meeting.participantLeft':
        return this.participantEvent(body);
      default:
        // Verified, but nothing we act on (transcripts, chat exports, ...): recorded only.
        return { eventType, events: [], roomEvents: [] };
    }
  }

  private livestreamUpdate(body: unknown, deliveryId: string): ParsedWebhook {
    const update = readWebhookBody(this.options.provider, livestreamUpdateSchema, body);
    const observation = this.observer.observeLivestreamUpdate({
      id: update.streamId,
      status: update.status,
      meeting_id: update.meeting?.id ?? null,
      playback_url: update.playbackUrl ?? null,
      ingest_server: update.ingestServer ?? null,
      stream_key: update.streamKey ?? null,
    });
    return {
      eventType: update.event,
      events: [this.event('livestream', observation, update.meeting, deliveryId, body)],
      roomEvents: [],
    };
  }

  private recordingUpdate(body: unknown, deliveryId: string): ParsedWebhook {
    const { recording, meeting, event } = readWebhookBody(this.options.provider, recordingUpdateSchema, body);
    const observation = this.observer.observeRecording({
      id: recording.id,
      status: recording.status,
      meeting_id: recording.meetingId ?? meeting?.id ?? null,
      session_id: recording.sessionId ?? meeting?.sessionId ?? null,
      output_file_name: recording.outputFileName ?? null,
      invoked_time: recording.invokedTime ?? null,
      started_time: recording.startedTime ?? null,
      stopped_time: recording.stoppedTime ?? null,
      recording_duration: recording.recordingDuration,
      download_url: recording.downloadUrl ?? null,
      download_url_expiry: recording.downloadUrlExpiry ?? null,
      audio_download_url: recording.audioDownloadUrl ?? null,
      file_size: recording.fileSize,
      stop_reason: recording.stopReason ?? null,
    });
    const room = {
      id: recording.meetingId ?? meeting?.id ?? null,
      sessionId: recording.sessionId ?? meeting?.sessionId,
    };
    return { eventType: event, events: [this.event('recording', observation, room, deliveryId, body)], roomEvents: [] };
  }

  private meetingEvent(body: unknown): ParsedWebhook {
    const { event, meeting } = readWebhookBody(this.options.provider, meetingEventSchema, body);
    const started = event === 'meeting.started';
    return {
      eventType: event,
      events: [],
      roomEvents: [
        {
          provider: this.options.provider,
          roomId: meeting.id,
          sessionId: meeting.sessionId ?? null,
          type: started ? 'SESSION_STARTED' : 'SESSION_ENDED',
          ...at(started ? meeting.startedAt : meeting.endedAt),
        },
      ],
    };
  }

  private participantEvent(body: unknown): ParsedWebhook {
    const { event, meeting, participant } = readWebhookBody(this.options.provider, participantEventSchema, body);
    const peerId = participant.peerId ?? participant.id ?? participant.customParticipantId;
    if (!peerId) throw new MalformedWebhookError(`${this.options.provider} ${event} without a participant id`);
    const joined = event === 'meeting.participantJoined';
    const roomEvent: RoomEvent = {
      provider: this.options.provider,
      roomId: meeting.id,
      sessionId: meeting.sessionId ?? null,
      type: joined ? 'PEER_JOINED' : 'PEER_LEFT',
      peerId,
      realPeer: !(participant.isRecorder || participant.isBot),
      ...at(joined ? participant.joinedAt : participant.leftAt),
    };
    return { eventType: event, events: [], roomEvents: [roomEvent] };
  }

  private event(
    kind: VendorEvent['kind'],
    observation: VendorObservation,
    meeting: { id: string | null; sessionId?: string | null } | null | undefined,
    deliveryId: string,
    payload: unknown,
  ): VendorEvent {
    return {
      provider: this.options.provider,
      kind,
      externalId: observation.externalId ?? null,
      roomId: meeting?.id ?? null,
      sessionId: meeting?.sessionId ?? null,
      eventId: deliveryId,
      observation,
      payload,
    };
  }
}

function at(value: string | null | undefined): { at?: Date } {
  if (!value) return {};
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? {} : { at: date };
}
