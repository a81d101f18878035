import { startDyteFake } from '../../fakes/dyte.js';
import { realtimeKitWebhookSuite } from '../realtimekit/webhook-suite.js';

realtimeKitWebhookSuite({
  provider: 'DYTE',
  path: '/webhooks/dyte',
  start: startDyteFake,
  livestreamStartStatus: 'OFFLINE',
  livestreamWebhookHasMeeting: false,
});
