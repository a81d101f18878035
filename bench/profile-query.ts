// `npx tsx bench/profile-query.ts`: a CPU profile of the service answering `activeLivestreams`
// (50 livestreams) under autocannon for 5 s, written to a temp folder whose path is printed.
import { join } from 'node:path';
import autocannon from 'autocannon';
import { post } from './fanout.js';
import { startChild, tempDir } from './lib.js';
import { QUERY } from './query.js';

const dir = tempDir('livestream-profile-');
const service = await startChild('service.ts', {
  DATABASE_URL: join(dir, 'profile.sqlite'),
  SANDBOX_STEP_MS: '3600000',
  POLL_INTERVAL_MS: '3600000',
});
try {
  for (let i = 0; i < 50; i++) {
    await post(service.port, 'mutation($r: String!) { startLivestream(input: { roomId: $r }) { __typename } }', {
      r: `room-${i}`,
    });
  }
  await service.call('cpu-start');
  const result = await autocannon({
    url: `http://127.0.0.1:${service.port}/graphql`,
    connections: 50,
    duration: 5,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: QUERY }),
  });
  const file = await service.call<string>('cpu-stop', join(dir, 'query.cpuprofile'));
  console.log(`${result.requests.average} req/s, non-2xx ${result.non2xx}; profile: ${file}`);
} finally {
  await service.stop();
}
