import type { StatusEventRecord } from '../domain/types.js';
import { builder } from './builder.js';
import { StatusSourceEnum } from './enums.js';

export const StatusEventRef = builder.objectRef<StatusEventRecord>('StatusEvent').implement({
  description: 'One status update a stream received, applied or refused by the state machine.',
  fields: (t) => ({
    status: t.exposeString('status'),
    vendorStatus: t.exposeString('vendorStatus', { nullable: true }),
    source: t.field({ type: StatusSourceEnum, resolve: (event) => event.source }),
    at: t.field({ type: 'DateTime', resolve: (event) => event.at }),
    version: t.exposeInt('version'),
    applied: t.exposeBoolean('applied', {
      description: 'False for an update the state machine refused (it would have moved backwards).',
    }),
  }),
});
