import { isActive, type StatusSource, type StreamKind } from '../domain/status.js';
import type {
  AssetInput,
  RecordingAssetRecord,
  StatusUpdate,
  StreamRecord,
  VendorObservation,
} from '../domain/types.js';
import type { StreamPatch } from '../store/types.js';

/** Where a vendor observation came from, and what history keeps of it. */
export interface Report {
  source: StatusSource;
  /** The vendor's event or delivery id: the same id applied twice changes nothing. */
  eventId?: string | null;
  /**
   * What history keeps (credentials redacted). When absent: the vendor's own answer
   * (`observation.raw`), else the observation itself.
   */
  payload?: unknown;
  /** Ids the event named beside the observation, used when the observation names none. */
  externalId?: string | null;
  sessionId?: string | null;
}

/** The one conversion of a vendor observation (start/stop answer, webhook, poll) into an update. */
export function toUpdate<K extends StreamKind>(
  kind: K,
  streamId: string,
  observation: VendorObservation,
  report: Report,
): StatusUpdate & { kind: K } {
  // `raw` is history's payload, never a field of the update itself.
  const { status, vendorStatus, assets, raw, ...details } = observation;
  return {
    kind,
    streamId,
    status,
    vendorStatus,
    source: report.source,
    assets,
    ...details,
    externalId: details.externalId ?? report.externalId ?? null,
    sessionId: details.sessionId ?? report.sessionId ?? null,
    eventId: report.eventId ?? null,
    payload: 'payload' in report ? report.payload : (raw ?? observation),
  };
}

/**
 * True when `status` takes a stream out of its active statuses: every final state, and UPLOADING
 * for a recording (it has stopped capturing). The update that does so sets `stoppedAt`, which the
 * one-active-stream-per-room index reads as "no longer active" (store/schema.ts), so this is
 * exactly the complement of `activeStatuses`.
 */
export function stopsCapture(kind: StreamKind, status: string): boolean {
  return !isActive(kind, status);
}

/** The columns an update would change, compared with the current row. */
export function detailPatch(
  kind: StreamKind,
  current: StreamRecord,
  update: StatusUpdate,
  statusRefused: boolean,
): StreamPatch {
  const patch: StreamPatch = {};
  // The first vendor id sticks: a later report can not re-point our stream at another job.
  if (!current.externalId) setChanged(patch, current, 'externalId', update.externalId);
  if (!statusRefused || !current.sessionId) setChanged(patch, current, 'sessionId', update.sessionId);
  if (!statusRefused) {
    setChanged(patch, current, 'vendorStatus', update.vendorStatus);
    if (update.status === 'FAILED') setChanged(patch, current, 'failureReason', update.failureReason);
  }
  if (kind === 'livestream') {
    setChanged(patch, current, 'playbackUrl', update.playbackUrl);
    setChanged(patch, current, 'ingestRtmpUrl', update.ingest?.rtmpUrl);
    setChanged(patch, current, 'ingestStreamKey', update.ingest?.streamKey);
    setChanged(patch, current, 'ingestWhipUrl', update.ingest?.whipUrl);
  }
  return patch;
}

/**
 * `value` into `patch` when given and not what the row holds. A module function rather than a
 * closure per call: the webhook path calls it for every delivery (bench/README.md, webhook intake).
 */
function setChanged<F extends keyof StreamPatch>(
  patch: StreamPatch,
  current: StreamRecord,
  field: F,
  value: StreamPatch[F] | undefined,
): void {
  if (value === undefined || value === null) return;
  if ((current as unknown as Record<string, unknown>)[field] !== value) patch[field] = value;
}

/** True when `assets` adds a file or changes one the recording already lists. */
export function assetsDiffer(existing: readonly RecordingAssetRecord[], assets: readonly AssetInput[]): boolean {
  return assets.some((asset) => {
    const match = existing.find((e) => e.externalId === (asset.externalId ?? null) && e.type === asset.type);
    return !match || match.url !== (asset.url ?? null) || match.path !== (asset.path ?? null);
  });
}
