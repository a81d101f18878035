export type { Report } from './changes.js';
export { toUpdate } from './changes.js';
export {
  type ApplyResult,
  type CreateRequest,
  conflictPayload,
  StreamLifecycle,
  type StreamTarget,
} from './lifecycle.js';
export { serializePayload } from './redact.js';
export { PollSchedule, type PollScheduleOptions } from './schedule.js';
