import type { LivestreamStatus, RecordingStatus } from '../../domain/status.js';

/**
 * Status mapping shared by Cloudflare RealtimeKit and Dyte v2 (RealtimeKit is Dyte's API under
 * Cloudflare): each vendor passes its own tables, these helpers apply them.
 */

/**
 * Raw statuses we write ourselves when the vendor answered no status: they never come from the
 * vendor, so they are named apart from its values.
 */
export const SYNTHETIC_VENDOR_STATUS = {
  /** The vendor accepted a stop and only answered a message; polling reads the final state. */
  stopRequested: 'STOP_REQUESTED',
  /** The meeting's active livestream is no longer ours (or there is none). */
  notActive: 'NOT_ACTIVE',
  /** The answer carried no status at all. */
  unknown: 'UNKNOWN',
} as const;

/** What we have seen of one livestream, for statuses whose meaning depends on history. */
export interface LivestreamHistory {
  wentLive: boolean;
  stopRequested: boolean;
}

/**
 * `OFFLINE` is what a livestream says both before it first goes live (Dyte's start answer) and
 * after it ended (the webhooks): it means STARTING until we have seen it LIVE or asked it to
 * stop, STOPPED after. The state machine would refuse the backward move anyway; this makes the
 * end visible instead of recording a refused STARTING.
 */
export function mapLivestreamStatus(
  table: Readonly<Record<string, LivestreamStatus>>,
  vendorStatus: string | null | undefined,
  history: LivestreamHistory,
): LivestreamStatus {
  const key = (vendorStatus ?? '').toUpperCase();
  if (key === 'OFFLINE' && (history.wentLive || history.stopRequested)) return 'STOPPED';
  // An undocumented value never ends a stream by guess: STARTING can not move anything backwards.
  return table[key] ?? 'STARTING';
}

export function mapRecordingStatus(
  table: Readonly<Record<string, RecordingStatus>>,
  vendorStatus: string | null | undefined,
): RecordingStatus {
  return table[(vendorStatus ?? '').toUpperCase()] ?? 'STARTING';
}

/** Recording statuses documented by RealtimeKit; Dyte's are "as RealtimeKit". */
export const REALTIMEKIT_RECORDING_STATUS: Readonly<Record<string, RecordingStatus>> = {
  INVOKED: 'STARTING',
  RECORDING: 'RECORDING',
  PAUSED: 'PAUSED',
  UPLOADING: 'UPLOADING',
  UPLOADED: 'COMPLETED',
  ERRORED: 'FAILED',
};
