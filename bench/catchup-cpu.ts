// `npx tsx bench/catchup-cpu.ts [count] [rounds]`: the service's CPU per change replayed (user +
// system time of its process over the replay, from /proc/<pid>/stat) to one graphql-ws subscriber
// resuming `count` changes back (default 20,000), `rounds` times (default 3) on the same file.
// On a loaded machine this held where wall-clock rates did not (bench/README.md, "Catch-up").
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { encodeChangeCursor } from '../src/domain/cursor.js';
import { cpuMs, startChild, tempDir } from './lib.js';

const count = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 3);

const service = await startChild('service.ts', {
  DATABASE_URL: join(tempDir('livestream-cpu-'), 'cpu.sqlite'),
  SANDBOX_STEP_MS: '3600000',
  POLL_INTERVAL_MS: '3600000',
});
try {
  const { position } = await service.call<{ position: number }>('changes', { count });
  const pid = service.child.pid as number;
  for (let round = 0; round < rounds; round++) {
    const client = createClient({ url: `ws://127.0.0.1:${service.port}/graphql`, webSocketImpl: WebSocket });
    const cpuBefore = cpuMs(pid);
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
    const cpu = cpuMs(pid) - cpuBefore;
    await client.dispose();
    console.log(
      `${((cpu * 1000) / count).toFixed(1)} µs of service CPU per change, ${Math.round(count / seconds)} changes/s`,
    );
  }
} finally {
  await service.stop();
}
