// Quick mode's bench processes from one esbuild bundle instead of through tsx. Through tsx a
// service child reads, transforms and links about 1,400 modules; bundled it needs about a fifth of
// the CPU to ready (bench/README.md, "Quick mode, 2026-12-05, late session"). Full mode keeps tsx,
// so its figures stay comparable with earlier runs.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { ROOT } from './lib.js';

/** Inside the project (gitignored), so the bundle's external packages resolve from node_modules. */
export const BUNDLE_DIR = join(ROOT, 'bench', '.bundle');
const INPUTS = join(BUNDLE_DIR, 'inputs.json');

/** Every script `startChild` starts: the servers, the client processes, the catch-up yardstick. */
function entryPoints(): string[] {
  const scripts = (folder: string) =>
    readdirSync(join(ROOT, 'bench', folder))
      .filter((name) => name.endsWith('.ts'))
      .map((name) => join('bench', folder, name));
  return [...scripts('servers'), ...scripts('clients'), join('bench', 'catchup-bare-server.ts')];
}

/**
 * Our modules find files next to their source (`drizzle/`, the status page's assets, the
 * better-sqlite3 driver) through `import.meta.url`: each gets its own source file's URL, so the
 * paths are the ones tsx would give.
 */
const sourceUrls: Plugin = {
  name: 'source-urls',
  setup(builder) {
    builder.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (args.path.includes('node_modules')) return undefined;
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      return {
        contents: text.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
        loader: 'ts',
      };
    });
  },
};

/** A package imported with `await import()` (tracing's SDK) stays Node's own import, as with tsx. */
const dynamicPackages: Plugin = {
  name: 'dynamic-packages',
  setup(builder) {
    builder.onResolve({ filter: /^[^./]/ }, (args) =>
      args.kind === 'dynamic-import' ? { path: args.path, external: true } : undefined,
    );
  },
};

/** True when the bundle was built from these entry points after every file it holds last changed. */
function bundleIsFresh(entries: string[]): boolean {
  if (!existsSync(INPUTS)) return false;
  const builtAt = statSync(INPUTS).mtimeMs;
  const recorded = JSON.parse(readFileSync(INPUTS, 'utf8')) as { entries: string[]; inputs: string[] };
  if (recorded.entries.join('\n') !== entries.join('\n')) return false;
  return recorded.inputs.every((file) => existsSync(join(ROOT, file)) && statSync(join(ROOT, file)).mtimeMs < builtAt);
}

/**
 * Builds the bench bundle unless it is newer than every file it was built from; answers the
 * bundled file of a script under bench/ (e.g. `servers/service.ts`).
 */
export async function prepareBundle(log: (message: string) => void): Promise<(script: string) => string> {
  const entries = entryPoints();
  if (bundleIsFresh(entries)) {
    log('bench bundle: newer than every file it holds, not rebuilt');
  } else {
    const began = performance.now();
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: entries,
      outdir: BUNDLE_DIR,
      outbase: 'bench',
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      metafile: true,
      // A native addon, and pino-pretty a devDependency imported only when installed (scripts/build.mjs).
      external: ['better-sqlite3', 'pino-pretty', 'pg-native'],
      // CommonJS dependencies `require` Node's modules; an ES module has no `require` of its own.
      banner: {
        js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
      },
      plugins: [sourceUrls, dynamicPackages],
      logLevel: 'warning',
    });
    // This file too: its build options make the bundle.
    const inputs = [...Object.keys(result.metafile.inputs).filter((input) => !input.includes(':')), 'bench/bundle.ts'];
    writeFileSync(INPUTS, JSON.stringify({ entries, inputs }));
    log(`bench bundle: built in ${((performance.now() - began) / 1000).toFixed(1)} s`);
  }
  return (script) => join(BUNDLE_DIR, script.replace(/\.ts$/, '.js'));
}
