// Preloaded (`--import`) into a service child by bench/profile-cpu-webhooks.ts, in any tree: the
// first SIGUSR2 starts V8's sampling profiler, the second stops it and writes the profile to
// $CPU_PROFILE_OUT. No change to the tree under test is needed.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const session = new Session();
session.connect();
let running = false;
const post = (method, params = {}) =>
  new Promise((resolve, reject) =>
    session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
  );
process.on('SIGUSR2', async () => {
  if (!running) {
    running = true;
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: Number(process.env.CPU_PROFILE_INTERVAL_US ?? 200) });
    await post('Profiler.start');
    return;
  }
  running = false;
  const { profile } = await post('Profiler.stop');
  writeFileSync(`${process.env.CPU_PROFILE_OUT}.tmp`, JSON.stringify(profile));
  const { renameSync } = await import('node:fs');
  renameSync(`${process.env.CPU_PROFILE_OUT}.tmp`, process.env.CPU_PROFILE_OUT);
});
