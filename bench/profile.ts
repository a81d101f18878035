// Profiling aids for the fan-out (not a benchmark):
//   npx tsx bench/profile.ts heap [count]  heap snapshots of the service before and after `count`
//                                          idle subscribers (compare in DevTools → Memory)
//   npx tsx bench/profile.ts cpu [count]   a CPU profile of the service delivering 20 changes
// Files go to a temp folder whose path is printed.
import { join } from 'node:path';
import { openFanOut, seedRooms } from './fanout.js';
import { startChild, tempDir } from './lib.js';

const mode = process.argv[2] === 'cpu' ? 'cpu' : 'heap';
const count = Number(process.argv[3] ?? 2000);
const dir = tempDir('livestream-profile-');
const service = await startChild('service.ts', {
  DATABASE_URL: join(dir, 'profile.sqlite'),
  SANDBOX_STEP_MS: '3600000',
  POLL_INTERVAL_MS: '3600000',
});
try {
  const hotId = await seedRooms(service.port);
  const before = mode === 'heap' ? await service.call<string>('snapshot', join(dir, 'before.heapsnapshot')) : '';
  const clients = await openFanOut(service, count, hotId);
  try {
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (mode === 'heap') {
      const after = await service.call<string>('snapshot', join(dir, 'after.heapsnapshot'));
      console.log(`${count} subscribers\nbefore: ${before}\nafter:  ${after}`);
    } else {
      await service.call('cpu-start');
      for (let r = 0; r < 20; r++) {
        await service.call('touch', { id: hotId, marker: `profile-${r}` });
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
      const file = await service.call<string>('cpu-stop', join(dir, 'delivery.cpuprofile'));
      console.log(`CPU profile of 20 changes to ${count} subscribers: ${file}`);
    }
  } finally {
    await clients.stop();
  }
} finally {
  await service.stop();
}
