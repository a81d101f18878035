import {
  LIVESTREAM_STATUSES,
  PROVIDERS,
  RECORD_TRIGGERS,
  RECORDING_STATUSES,
  STATUS_SOURCES,
} from '../domain/status.js';
import { builder } from './builder.js';

export const ProviderEnum = builder.enumType('Provider', { values: PROVIDERS });
export const LivestreamStatusEnum = builder.enumType('LivestreamStatus', { values: LIVESTREAM_STATUSES });
export const RecordingStatusEnum = builder.enumType('RecordingStatus', { values: RECORDING_STATUSES });
export const StatusSourceEnum = builder.enumType('StatusSource', { values: STATUS_SOURCES });
export const RecordTriggerEnum = builder.enumType('RecordTrigger', { values: RECORD_TRIGGERS });

export const VideoInput = builder.inputType('VideoInput', {
  fields: (t) => ({
    width: t.int({ required: true }),
    height: t.int({ required: true }),
  }),
});
