import { isFinal, type StatusSource, type StreamKind } from '../domain/status.js';
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

/** Recording stops capturing at UPLOADING; every final state ends a stream. */
export function stopsCapture(kind: StreamKind, status: string): boolean {
  return isFinal(kind, status) || (kind === 'recording' && status === 'UPLOADING');
}

const LIVESTREAM_DETAIL_FIELDS = ['playbackUrl', 'ingestRtmpUrl', 'ingestStreamKey', 'ingestWhipUrl'] as const;

/** The columns an update would change, compared with the current row. */
export function detailPatch(
  kind: StreamKind,
  current: StreamRecord,
  update: StatusUpdate,
  statusRefused: boolean,
): StreamPatch {
  const patch: StreamPatch = {};
  const set = <F extends keyof StreamPatch>(field: F, value: StreamPatch[F] | undefined) => {
    if (value === undefined || value === null) return;
    if ((current as unknown as Record<string, unknown>)[field] !== value) patch[field] = value;
  };
  // The first vendor id sticks: a later report can not re-point our stream at another job.
  if (!current.externalId) set('externalId', update.externalId);
  if (!statusRefused || !current.sessionId) set('sessionId', update.sessionId);
  if (!statusRefused) {
    set('vendorStatus', update.vendorStatus);
    if (update.status === 'FAILED') set('failureReason', update.failureReason);
  }
  if (kind === 'livestream') {
    const values: Record<(typeof LIVESTREAM_DETAIL_FIELDS)[number], string | null | undefined> = {
      playbackUrl: update.playbackUrl,
      ingestRtmpUrl: update.ingest?.rtmpUrl,
      ingestStreamKey: update.ingest?.streamKey,
      ingestWhipUrl: update.ingest?.whipUrl,
    };
    for (const field of LIVESTREAM_DETAIL_FIELDS) set(field, values[field]);
  }
  return patch;
}

/** True when `assets` adds a file or changes one the recording already lists. */
export function assetsDiffer(existing: readonly RecordingAssetRecord[], assets: readonly AssetInput[]): boolean {
  return assets.some((asset) => {
    const match = existing.find((e) => e.externalId === (asset.externalId ?? null) && e.type === asset.type);
    return !match || match.url !== (asset.url ?? null) || match.path !== (asset.path ?? null);
  });
}
