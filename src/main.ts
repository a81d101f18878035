import { setFlagsFromString } from 'node:v8';

// While the service loads (about 1,400 modules) and builds its schema, most of what it allocates
// survives, so V8 doubles the young generation at each scavenge up to its 32 MB maximum, and those
// pages stay resident for good: a fifth of the idle RSS (bench/README.md, "Cold start, idle RSS",
// 2026-12-05 session). Keeping the young generation at its initial size until the service listens
// costs no measurable start-up CPU; from then on it grows under load as before (2 is V8's default).
// Set before anything else is imported, hence the dynamic import of `start.ts`, which boots.
setFlagsFromString('--semi-space-growth-factor=1');
await import('./start.js');
setFlagsFromString('--semi-space-growth-factor=2');
