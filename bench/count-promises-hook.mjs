// Preloaded (`--import`) into a service child by bench/profile-cpu-webhooks.ts (`--hook=` this
// file), in any tree: counts the promises the process creates between the first SIGUSR2 and the
// second (V8's promise hooks, which leave async_hooks and AsyncLocalStorage as they are), prints
// the count to stderr, and writes an empty profile to $CPU_PROFILE_OUT for the tool to read.
import { renameSync, writeFileSync } from 'node:fs';
import { promiseHooks } from 'node:v8';

let promises = 0;
let stop;
process.on('SIGUSR2', () => {
  if (!stop) {
    promises = 0;
    stop = promiseHooks.onInit(() => promises++);
    return;
  }
  stop();
  stop = undefined;
  process.stderr.write(`promises created: ${promises}\n`);
  writeFileSync(`${process.env.CPU_PROFILE_OUT}.tmp`, JSON.stringify({ nodes: [], samples: [], timeDeltas: [] }));
  renameSync(`${process.env.CPU_PROFILE_OUT}.tmp`, process.env.CPU_PROFILE_OUT);
});
