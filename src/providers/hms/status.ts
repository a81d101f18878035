import type { LivestreamStatus, RecordingStatus } from '../../domain/status.js';

/** The one status vocabulary 100ms uses for both live streams and recordings. */
export const HMS_STATUSES = ['starting', 'running', 'stopping', 'post_processing', 'completed', 'failed'] as const;
export type HmsStatus = (typeof HMS_STATUSES)[number];

/** A live stream is over for its viewers once it stops; post-processing only builds the VOD. */
export const HMS_LIVESTREAM_STATUS: Record<HmsStatus, LivestreamStatus> = {
  starting: 'STARTING',
  running: 'LIVE',
  stopping: 'STOPPING',
  post_processing: 'STOPPING',
  completed: 'STOPPED',
  failed: 'FAILED',
};

/** A recording's post-processing is the upload of its file: the asset exists once it completes. */
export const HMS_RECORDING_STATUS: Record<HmsStatus, RecordingStatus> = {
  starting: 'STARTING',
  running: 'RECORDING',
  stopping: 'STOPPING',
  post_processing: 'UPLOADING',
  completed: 'COMPLETED',
  failed: 'FAILED',
};

function isHmsStatus(value: string): value is HmsStatus {
  return (HMS_STATUSES as readonly string[]).includes(value);
}

/**
 * Our status for a 100ms live stream status, or `null` for a value 100ms does not document: the
 * caller then keeps the stream's current status instead of guessing.
 */
export function mapLivestreamStatus(vendorStatus: string): LivestreamStatus | null {
  return isHmsStatus(vendorStatus) ? HMS_LIVESTREAM_STATUS[vendorStatus] : null;
}

/** Our status for a 100ms recording status, or `null` for an undocumented value (see above). */
export function mapRecordingStatus(vendorStatus: string): RecordingStatus | null {
  return isHmsStatus(vendorStatus) ? HMS_RECORDING_STATUS[vendorStatus] : null;
}
