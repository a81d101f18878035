// `npx tsx bench/profile-catchup.ts [count]`: a CPU profile of the service replaying `count`
// changes (default 20,000) to one graphql-ws subscriber resuming after a cursor (what
// bench/catchup.ts measures), written to a temp folder whose path is printed.
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { encodeChangeCursor } from '../src/domain/cursor.js';
import { startChild, tempDir } from './lib.js';

const count = Number(process.argv[2] ?? 20_000);
const dir = tempDir('livestream-profile-');
const service = await startChild('service.ts', {
  DATABASE_URL: join(dir, 'profile.sqlite'),
  SANDBOX_STEP_MS: '3600000',
  POLL_INTERVAL_MS: '3600000',
});
try {
  const { position } = await service.call<{ position: number }>('changes', { count });
  const client = createClient({ url: `ws://127.0.0.1:${service.port}/graphql`, webSocketImpl: WebSocket });
  await service.call('cpu-start');
  const began = performance.now();
  await new Promise<void>((resolve, reject) => {
    let received = 0;
    client.subscribe(
      {
        query: `subscription($after: String) {
          livestreamChanged(roomId: "catch-up-room", after: $after) { id status vendorStatus version changeCursor }
        }`,
        variables: { after: encodeChangeCursor(position) },
      },
      {
        next: () => void (++received === count && resolve()),
        error: reject,
        complete: () => reject(new Error('completed')),
      },
    );
  });
  const seconds = (performance.now() - began) / 1000;
  const file = await service.call<string>('cpu-stop', join(dir, 'catchup.cpuprofile'));
  await client.dispose();
  console.log(`${Math.round(count / seconds)} changes/s; profile: ${file}`);
} finally {
  await service.stop();
}
