import type { Config } from '../config.js';
import { ProviderError } from '../domain/errors.js';
import type { ProviderId, StreamKind } from '../domain/status.js';
import type { VendorObservation } from '../domain/types.js';

export interface ProviderCapabilities {
  livestreams: boolean;
  recordings: boolean;
  webhooks: boolean;
}

export interface VideoSize {
  width: number;
  height: number;
}

export interface StartLivestreamRequest {
  /** Our id for the stream, for vendors that take a caller-chosen name or reference. */
  streamId: string;
  roomId: string;
  meetingUrl?: string | null;
  recording?: { hlsVod?: boolean | null; singleFilePerLayer?: boolean | null } | null;
  destination?: string | null;
  name?: string | null;
  video?: VideoSize | null;
}

export interface StartRecordingRequest {
  recordingId: string;
  roomId: string;
  meetingUrl?: string | null;
  resolution?: VideoSize | null;
  audioOnly?: boolean | null;
}

/** What a provider needs to address one of our streams on its vendor. */
export interface StreamRef {
  id: string;
  roomId: string;
  externalId: string | null;
  sessionId: string | null;
  /** Our current status, for vendors whose reads are ambiguous without it. */
  status?: string;
}

/**
 * A vendor's observation pushed to us (a verified webhook, or the sandbox's simulated one):
 * the intake correlates it to our stream by `externalId`, else by room.
 */
export interface VendorEvent {
  provider: ProviderId;
  kind: StreamKind;
  externalId?: string | null;
  roomId?: string | null;
  sessionId?: string | null;
  /** The vendor's event or delivery id. */
  eventId?: string | null;
  observation: VendorObservation;
  payload: unknown;
}

/** Where providers that push events deliver them: the same intake real webhooks use. */
export type VendorEventSink = (event: VendorEvent) => void;

/** What a provider is given besides configuration. */
export interface ProviderContext {
  /** Where providers that push events in process (the sandbox) deliver them. */
  report: VendorEventSink;
}

/**
 * A vendor, declared once in its folder's `index.ts`: what it can do (shown by the `providers`
 * query), where it posts webhooks, and how it is built. The registry (`providers/index.ts`) and the
 * HTTP server's webhook routes are made from these declarations.
 */
export interface ProviderDefinition {
  readonly id: ProviderId;
  readonly capabilities: ProviderCapabilities;
  /**
   * The route the vendor's webhooks are posted to; the provider's `webhooks` handler verifies and
   * parses them. None for vendors without webhooks, or that report in process (the sandbox).
   */
  readonly webhookPath?: `/webhooks/${string}`;
  /** The provider, or `null` when the vendor's credentials are not set. */
  create(config: Config, context: ProviderContext): Provider | null;
}

/** A room's life-cycle news from a vendor webhook, which recording automation acts on. */
export interface RoomEvent {
  provider: ProviderId;
  roomId: string;
  sessionId?: string | null;
  type: 'SESSION_STARTED' | 'SESSION_ENDED' | 'PEER_JOINED' | 'PEER_LEFT';
  peerId?: string | null;
  /** False for the vendor's own bots (recorders, streamers): they are not "real" peers. */
  realPeer?: boolean;
  /** A page that lands in the room, when the vendor's event names one (a recorder can open it). */
  meetingUrl?: string | null;
  at?: Date;
}

/** One verified webhook delivery, parsed. */
export interface ParsedWebhook {
  /** The vendor's event type, as sent (`hls.started.success`, `recording.statusUpdate`, ...). */
  eventType: string;
  /** Status observations about streams; their `eventId` is the delivery id. */
  events: VendorEvent[];
  /** Room life-cycle events. */
  roomEvents: RoomEvent[];
}

export { MalformedWebhookError, readWebhookBody } from './webhook-body.js';

/**
 * A vendor's webhook contract. `verify` checks authenticity on the raw bytes before anything else
 * (constant-time comparisons); `deliveryId` names the delivery for de-duplication; `parse` maps
 * a verified body to observations. `parse` takes only the body, so a stored delivery can be parsed
 * again later (an event that arrived before its stream existed).
 */
export interface WebhookHandler {
  verify(rawBody: Buffer, headers: Readonly<Record<string, string | undefined>>): boolean | Promise<boolean>;
  deliveryId(body: unknown, headers: Readonly<Record<string, string | undefined>>): string | null;
  parse(body: unknown, deliveryId: string): ParsedWebhook;
}

/**
 * One video vendor behind one interface. Calls answer the vendor's view of the stream mapped to
 * our status model, or throw a `ProviderError`. `fetch*` answers `null` when the vendor does not
 * know the stream.
 */
export interface Provider {
  readonly id: ProviderId;
  readonly configured: boolean;
  readonly capabilities: ProviderCapabilities;
  startLivestream(request: StartLivestreamRequest): Promise<VendorObservation>;
  stopLivestream(stream: StreamRef): Promise<VendorObservation>;
  fetchLivestream(stream: StreamRef): Promise<VendorObservation | null>;
  startRecording(request: StartRecordingRequest): Promise<VendorObservation>;
  stopRecording(stream: StreamRef): Promise<VendorObservation>;
  fetchRecording(stream: StreamRef): Promise<VendorObservation | null>;
  /** Present when the vendor sends webhooks and their verification is configured. */
  readonly webhooks?: WebhookHandler;
  /**
   * Renews an asset's expired download URL (100ms pre-signed URLs). `roomId` and
   * `recordingExternalId` let a vendor find an asset first known without its own id (a webhook).
   */
  renewAssetUrl?(asset: {
    externalId: string | null;
    path: string | null;
    roomId?: string | null;
    recordingExternalId?: string | null;
  }): Promise<{
    url: string;
    urlExpiresAt: Date | null;
  } | null>;
  /** Releases timers and connections. */
  close?(): void;
}

/** A vendor whose credentials are not set: listed by `providers`, refused by every mutation. */
export class UnconfiguredProvider implements Provider {
  readonly configured = false;
  readonly id: ProviderId;
  readonly capabilities: ProviderCapabilities;
  constructor(definition: ProviderDefinition) {
    this.id = definition.id;
    this.capabilities = definition.capabilities;
  }

  private refuse(): never {
    throw new ProviderError('PROVIDER_NOT_CONFIGURED', this.id, `Provider ${this.id} is not configured`);
  }
  startLivestream(): Promise<VendorObservation> {
    return this.refuse();
  }
  stopLivestream(): Promise<VendorObservation> {
    return this.refuse();
  }
  fetchLivestream(): Promise<VendorObservation | null> {
    return this.refuse();
  }
  startRecording(): Promise<VendorObservation> {
    return this.refuse();
  }
  stopRecording(): Promise<VendorObservation> {
    return this.refuse();
  }
  fetchRecording(): Promise<VendorObservation | null> {
    return this.refuse();
  }
}
