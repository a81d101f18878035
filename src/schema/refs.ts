import type { LivestreamRecord, RecordingRecord } from '../domain/types.js';
import { builder } from './builder.js';

/** Object refs shared across files; each type is implemented in its own file. */
export const LivestreamRef = builder.objectRef<LivestreamRecord>('Livestream');
export const RecordingRef = builder.objectRef<RecordingRecord>('Recording');
export const RoomRef = builder.objectRef<{ id: string }>('Room');
