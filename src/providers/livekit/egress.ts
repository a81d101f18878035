import { z } from 'zod';
import type { LivestreamStatus, RecordingStatus, StreamKind } from '../../domain/status.js';
import type { AssetInput, VendorObservation } from '../../domain/types.js';
import { redactStreamUrls } from './redact.js';

/**
 * LiveKit's egress objects (livekit_egress.proto) as they arrive over Twirp JSON, and their
 * mapping to our status model. Shared by the API client and webhook parsing (`egressInfo`).
 */

/** `EgressStatus` in enum order: protojson may send the name or the number. */
export const EGRESS_STATUSES = [
  'EGRESS_STARTING',
  'EGRESS_ACTIVE',
  'EGRESS_ENDING',
  'EGRESS_COMPLETE',
  'EGRESS_FAILED',
  'EGRESS_ABORTED',
  'EGRESS_LIMIT_REACHED',
] as const;
export type EgressStatus = (typeof EGRESS_STATUSES)[number];

export const LIVEKIT_LIVESTREAM_STATUS: Record<EgressStatus, LivestreamStatus> = {
  EGRESS_STARTING: 'STARTING',
  EGRESS_ACTIVE: 'LIVE',
  EGRESS_ENDING: 'STOPPING',
  EGRESS_COMPLETE: 'STOPPED',
  EGRESS_FAILED: 'FAILED',
  EGRESS_ABORTED: 'FAILED',
  // The egress ran until a duration/size limit: it ended normally from the viewer's side.
  EGRESS_LIMIT_REACHED: 'STOPPED',
};

export const LIVEKIT_RECORDING_STATUS: Record<EgressStatus, RecordingStatus> = {
  EGRESS_STARTING: 'STARTING',
  EGRESS_ACTIVE: 'RECORDING',
  EGRESS_ENDING: 'UPLOADING',
  EGRESS_COMPLETE: 'COMPLETED',
  EGRESS_FAILED: 'FAILED',
  EGRESS_ABORTED: 'FAILED',
  // The file up to the limit is still produced and uploaded.
  EGRESS_LIMIT_REACHED: 'COMPLETED',
};

/**
 * The egress status name of a raw `status` value. proto3 JSON omits the zero value, so a missing
 * status is EGRESS_STARTING. Answers null for a value LiveKit does not document.
 */
export function egressStatus(raw: unknown): EgressStatus | null {
  if (raw === undefined || raw === null || raw === '') return 'EGRESS_STARTING';
  const index = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : null;
  if (index !== null) return EGRESS_STATUSES[index] ?? null;
  return typeof raw === 'string' && (EGRESS_STATUSES as readonly string[]).includes(raw) ? (raw as EgressStatus) : null;
}

/**
 * Twirp answers may use proto field names (snake_case) or JSON names (camelCase): every key is
 * brought to camelCase so one schema reads both.
 */
export function camelizeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(camelizeKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase()),
        camelizeKeys(item),
      ]),
    );
  }
  return value;
}

/** protojson writes int64 as a string; some servers send a number. Anything unreadable is absent. */
const int64 = z
  .union([z.string(), z.number()])
  .nullish()
  .transform((value) => {
    if (value === null || value === undefined || value === '') return undefined;
    const number = Number(value);
    return Number.isFinite(number) ? number : undefined;
  });
const text = z.string().nullish();
const list = <T extends z.ZodType>(item: T) => z.array(item).nullish();

const fileInfoSchema = z.object({
  filename: text,
  startedAt: int64,
  endedAt: int64,
  duration: int64,
  size: int64,
  location: text,
});

const segmentsInfoSchema = z.object({
  playlistName: text,
  livePlaylistName: text,
  duration: int64,
  size: int64,
  playlistLocation: text,
  livePlaylistLocation: text,
  segmentCount: int64,
  startedAt: int64,
  endedAt: int64,
});

const streamInfoSchema = z.object({
  url: text,
  startedAt: int64,
  endedAt: int64,
  duration: int64,
  status: z.union([z.string(), z.number()]).nullish(),
  error: text,
});

/** The echo of the start request that EgressInfo carries: tells a stream egress from a file one. */
const roomCompositeRequestSchema = z.object({
  roomName: text,
  fileOutputs: list(z.object({ filepath: text })),
  streamOutputs: list(z.object({ urls: list(z.string()) })),
  segmentOutputs: list(z.object({ filenamePrefix: text, playlistName: text })),
  // Deprecated single outputs, still accepted by LiveKit.
  file: z.object({ filepath: text }).nullish(),
  stream: z.object({ urls: list(z.string()) }).nullish(),
  segments: z.object({ filenamePrefix: text, playlistName: text }).nullish(),
});

export const egressInfoSchema = z.object({
  egressId: text,
  roomId: text,
  roomName: text,
  status: z.union([z.string(), z.number()]).nullish(),
  startedAt: int64,
  endedAt: int64,
  updatedAt: int64,
  error: text,
  details: text,
  roomComposite: roomCompositeRequestSchema.nullish(),
  streamResults: list(streamInfoSchema),
  fileResults: list(fileInfoSchema),
  segmentResults: list(segmentsInfoSchema),
  // Deprecated single results of older servers.
  file: fileInfoSchema.nullish(),
  segments: segmentsInfoSchema.nullish(),
  stream: z.object({ info: list(streamInfoSchema) }).nullish(),
});
export type EgressInfo = z.infer<typeof egressInfoSchema>;

const listEgressResponseSchema = z.object({ items: list(egressInfoSchema) });

/** Reads one EgressInfo in either spelling; null when the body is not one. */
export function parseEgressInfo(body: unknown): EgressInfo | null {
  const parsed = egressInfoSchema.safeParse(camelizeKeys(body));
  return parsed.success ? parsed.data : null;
}

/** Reads a ListEgressResponse in either spelling (`{}` is an empty list); null when unreadable. */
export function parseEgressList(body: unknown): EgressInfo[] | null {
  const parsed = listEgressResponseSchema.safeParse(camelizeKeys(body));
  return parsed.success ? (parsed.data.items ?? []) : null;
}

function fileResults(info: EgressInfo) {
  return info.fileResults?.length ? info.fileResults : info.file ? [info.file] : [];
}

function segmentResults(info: EgressInfo) {
  return info.segmentResults?.length ? info.segmentResults : info.segments ? [info.segments] : [];
}

function streamResults(info: EgressInfo) {
  return info.streamResults?.length ? info.streamResults : (info.stream?.info ?? []);
}

export type EgressOutputKind = 'stream' | 'segments' | 'file';

/** The kinds of output an egress writes, from its results or its echoed request. */
export function egressOutputKinds(info: EgressInfo): Set<EgressOutputKind> {
  const request = info.roomComposite;
  const kinds = new Set<EgressOutputKind>();
  if (streamResults(info).length || request?.streamOutputs?.length || request?.stream) kinds.add('stream');
  if (segmentResults(info).length || request?.segmentOutputs?.length || request?.segments) kinds.add('segments');
  if (fileResults(info).length || request?.fileOutputs?.length || request?.file) kinds.add('file');
  return kinds;
}

/**
 * Whether an egress is one of our livestreams (RTMP or HLS outputs) or recordings (file
 * outputs); null when it can not be told or mixes both (we never start such an egress).
 */
export function egressKind(info: EgressInfo): StreamKind | null {
  const kinds = egressOutputKinds(info);
  if (kinds.size === 0 || (kinds.has('file') && kinds.size > 1)) return null;
  return kinds.has('file') ? 'recording' : 'livestream';
}

/** The stream URLs an egress pushes to, as echoed (LiveKit may redact their stream keys). */
export function egressStreamUrls(info: EgressInfo): string[] {
  const request = info.roomComposite;
  return [
    ...(request?.streamOutputs ?? []).flatMap((output) => output.urls ?? []),
    ...(request?.stream?.urls ?? []),
    ...streamResults(info).map((result) => result.url ?? ''),
  ].filter((url) => url.length > 0);
}

/** The file and playlist paths an egress writes, as requested or reported. */
export function egressOutputPaths(info: EgressInfo): string[] {
  const request = info.roomComposite;
  const paths = [
    ...(request?.fileOutputs ?? []).map((output) => output.filepath),
    request?.file?.filepath,
    ...(request?.segmentOutputs ?? []).map((output) => output.filenamePrefix),
    request?.segments?.filenamePrefix,
    ...fileResults(info).map((result) => result.filename),
    ...segmentResults(info).map((result) => result.playlistLocation),
  ];
  return paths.filter((path): path is string => typeof path === 'string' && path.length > 0);
}

function toAsset(file: z.infer<typeof fileInfoSchema>): AssetInput {
  return {
    externalId: file.filename ?? null,
    type: 'file',
    path: file.location || file.filename || null,
    size: file.size ?? null,
    // LiveKit reports durations in nanoseconds.
    durationSeconds: file.duration === undefined ? null : file.duration / 1e9,
    url: null,
    urlExpiresAt: null,
  };
}

/** Our view of an egress: status mapped for the stream kind, plus what LiveKit tells about it. */
export function egressObservation(kind: StreamKind, info: EgressInfo): VendorObservation {
  const vendorStatus = egressStatus(info.status);
  if (!vendorStatus) throw new UnknownEgressStatusError(String(info.status));
  const status =
    kind === 'livestream' ? LIVEKIT_LIVESTREAM_STATUS[vendorStatus] : LIVEKIT_RECORDING_STATUS[vendorStatus];
  const observation: VendorObservation = {
    status,
    vendorStatus,
    externalId: info.egressId || null,
    // The LiveKit room sid (RM_…) identifies this session of the room.
    sessionId: info.roomId || null,
  };
  if (status === 'FAILED') {
    const reason = info.error || streamResults(info).find((result) => result.error)?.error || vendorStatus;
    // Stream errors can quote the RTMP URL, stream key included.
    observation.failureReason = redactStreamUrls(reason);
  }
  if (kind === 'livestream') {
    const playlist = segmentResults(info).find((result) => result.playlistLocation);
    if (playlist?.playlistLocation) observation.playbackUrl = playlist.playlistLocation;
  } else if (status === 'COMPLETED') {
    const assets = fileResults(info).map(toAsset);
    if (assets.length > 0) observation.assets = assets;
  }
  return observation;
}

export class UnknownEgressStatusError extends Error {
  constructor(readonly rawStatus: string) {
    super(`LiveKit reported an undocumented egress status ${rawStatus}`);
    this.name = 'UnknownEgressStatusError';
  }
}
