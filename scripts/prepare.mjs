// `prepare`, which `npm ci` and `npm install` run: bundles src/ into dist/ (`npm run build`), so
// `npm start` (`node dist/main.js`) needs no devDependencies at run time. Where devDependencies
// are left out (`npm ci --omit=dev` in a production image) there is no esbuild to bundle
// with: dist/ comes from a build that had them (see the README, "Running in production").
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

try {
  createRequire(import.meta.url).resolve('esbuild');
} catch {
  const built = existsSync(new URL('../dist/main.js', import.meta.url));
  console.warn(
    `prepare: esbuild is not installed (devDependencies omitted), so src/ is not bundled. ${
      built ? 'dist/ is already built.' : 'Ship dist/ from `npm run build` where devDependencies are installed.'
    }`,
  );
  process.exit(0);
}
const build = spawnSync('npm', ['run', 'build'], { stdio: 'inherit', shell: process.platform === 'win32' });
process.exit(build.status ?? 1);
