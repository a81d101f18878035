// `npx tsx bench/profile-webhooks.ts [postgres]`: a CPU profile of the service taking 100ms
// webhooks for 5 s (what bench/webhooks.ts measures), on SQLite or on a fresh PostgreSQL database
// (dropped after), written to a temp folder whose path is printed.
import { join } from 'node:path';
import autocannon from 'autocannon';
import { createTestDatabase } from '../test/support/postgres.js';
import { hmsDeliveryRequest, hmsIntakeEnv, startChild, tempDir } from './lib.js';

const dir = tempDir('livestream-profile-');
const database = process.argv[2] === 'postgres' ? await createTestDatabase() : undefined;
const service = await startChild('service.ts', hmsIntakeEnv(database?.url ?? join(dir, 'profile.sqlite')));
try {
  await service.call('seed', { count: 20_000 });
  await service.call('cpu-start');
  let n = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${service.port}/webhooks/hms`,
    connections: 10,
    duration: 5,
    requests: [hmsDeliveryRequest(() => n++, 'p')],
  });
  const file = await service.call<string>('cpu-stop', join(dir, 'webhooks.cpuprofile'));
  console.log(`${result.requests.average} req/s, non-2xx ${result.non2xx}; profile: ${file}`);
} finally {
  await service.stop();
  await database?.drop();
}
