import { startDyteFake } from '../fakes/dyte.js';
import { realtimeKitWebhookSuite } from './realtimekit-suite.js';

realtimeKitWebhookSuite({
  provider: 'DYTE',
  path: '/webhooks/dyte',
  start: startDyteFake,
  livestreamStartStatus: 'OFFLINE',
  livestreamWebhookHasMeeting: false,
});
