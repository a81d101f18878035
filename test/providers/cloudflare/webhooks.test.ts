import { startCloudflareFake } from '../../fakes/cloudflare.js';
import { realtimeKitWebhookSuite } from '../realtimekit/webhook-suite.js';

realtimeKitWebhookSuite({
  provider: 'CLOUDFLARE',
  path: '/webhooks/cloudflare',
  start: startCloudflareFake,
  livestreamStartStatus: 'INVOKED',
  livestreamWebhookHasMeeting: true,
});
