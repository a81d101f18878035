/**
 * The status model of design.md: two kinds of stream, their states, and the one rule that decides
 * whether an observed status may replace the current one.
 */

export const PROVIDERS = ['SANDBOX', 'HMS', 'CLOUDFLARE', 'DYTE', 'TENBYTE', 'LIVEKIT'] as const;
export type ProviderId = (typeof PROVIDERS)[number];

export const LIVESTREAM_STATUSES = ['STARTING', 'LIVE', 'STOPPING', 'STOPPED', 'FAILED'] as const;
export type LivestreamStatus = (typeof LIVESTREAM_STATUSES)[number];

export const RECORDING_STATUSES = [
  'STARTING',
  'RECORDING',
  'PAUSED',
  'STOPPING',
  'UPLOADING',
  'COMPLETED',
  'FAILED',
] as const;
export type RecordingStatus = (typeof RECORDING_STATUSES)[number];

export type StreamKind = 'livestream' | 'recording';
export type StreamStatus = LivestreamStatus | RecordingStatus;

export const STATUS_SOURCES = ['API', 'WEBHOOK', 'POLL'] as const;
export type StatusSource = (typeof STATUS_SOURCES)[number];

/** When a room's rule starts a recording by itself (`RecordTrigger`). */
export const RECORD_TRIGGERS = ['SESSION_START', 'FIRST_PEER_JOIN', 'NEVER'] as const;
export type RecordTrigger = (typeof RECORD_TRIGGERS)[number];

/**
 * Position of each status along its life. Equal ranks may swap (RECORDING ⇄ PAUSED); FAILED is
 * reachable from every state that is not final.
 */
const RANK: Record<StreamKind, Record<string, number>> = {
  livestream: { STARTING: 0, LIVE: 1, STOPPING: 2, STOPPED: 3 },
  recording: { STARTING: 0, RECORDING: 1, PAUSED: 1, STOPPING: 2, UPLOADING: 3, COMPLETED: 4 },
};

const FINAL: Record<StreamKind, ReadonlySet<string>> = {
  livestream: new Set(['STOPPED', 'FAILED']),
  recording: new Set(['COMPLETED', 'FAILED']),
};

const ACTIVE: Record<StreamKind, readonly string[]> = {
  livestream: ['STARTING', 'LIVE', 'STOPPING'],
  recording: ['STARTING', 'RECORDING', 'PAUSED', 'STOPPING'],
};

export function isFinal(kind: StreamKind, status: string): boolean {
  return FINAL[kind].has(status);
}

/** Statuses during which a second start in the same room is a conflict. */
export function activeStatuses(kind: StreamKind): readonly string[] {
  return ACTIVE[kind];
}

export function isActive(kind: StreamKind, status: string): boolean {
  return ACTIVE[kind].includes(status);
}

const POLLED: Record<StreamKind, readonly string[]> = {
  livestream: ACTIVE.livestream,
  recording: [...ACTIVE.recording, 'UPLOADING'],
};

/** Statuses the poller watches: every one that is not final. */
export function polledStatuses(kind: StreamKind): readonly string[] {
  return POLLED[kind];
}

export type TransitionVerdict = 'apply' | 'same' | 'refuse';

/**
 * Decides what an observed status does to the current one: `apply` moves the stream, `same`
 * changes no status (details may still change), `refuse` would go backwards or leave a final state.
 */
export function judgeTransition(kind: StreamKind, from: string, to: string): TransitionVerdict {
  if (from === to) return 'same';
  if (isFinal(kind, from)) return 'refuse';
  if (to === 'FAILED') return 'apply';
  const rankFrom = RANK[kind][from];
  const rankTo = RANK[kind][to];
  if (rankFrom === undefined || rankTo === undefined) return 'refuse';
  return rankTo >= rankFrom ? 'apply' : 'refuse';
}
