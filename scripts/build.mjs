// `npm run build`: bundles src/ and its dependencies into dist/ with esbuild, one file per entry
// (main.js, prune.js) plus shared and lazily imported chunks (PostgreSQL, replicas, tracing, jose).
// Node then reads about 25 files at start instead of about 1,400 separate modules, each resolved,
// read and compiled on its own: a third of the CPU to ready, and 94 MB idle RSS instead of 130
// (bench/README.md, "Cold start and idle RSS, 2026-12-05 session"). Type checking is `npm run typecheck`.
//
// The source maps map our own code only (stack traces under `--enable-source-maps` name src/
// files and lines); the dependencies' part of each map is dropped: with it, Node decoded a 12 MB
// map at start and idle RSS grew to 180 MB.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire, isBuiltin } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const src = join(root, 'src');
const outdir = join(root, 'dist');
const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/**
 * Our modules find files next to them (`drizzle/`, the status page's assets) through
 * `import.meta.url`; bundled, that is the chunk's URL in dist/, so each module gets the URL its
 * own file would have had there, as `tsc` laid dist/ out.
 */
const ownModuleUrls = {
  name: 'own-module-urls',
  setup(builder) {
    builder.onLoad({ filter: /\.ts$/ }, async (args) => {
      if (!args.path.startsWith(src)) return undefined;
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const own = `./${relative(src, args.path).replace(/\.ts$/, '.js')}`;
      return {
        contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(own)}, import.meta.url).href`),
        loader: 'ts',
      };
    });
  },
};

const external = ['better-sqlite3', 'pino-pretty', 'pg-native'];

/**
 * `await import('a-commonjs-package')` gives its exports by name in Node; esbuild's bundle gives
 * only `default` for a CommonJS module imported that way (the OpenTelemetry SDK, loaded when
 * tracing is on). A module in between re-exports each name the package exports (read by loading
 * it here, as Node would); an ES module package is re-exported as it is.
 */
const dynamicPackages = {
  name: 'dynamic-packages',
  setup(builder) {
    builder.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.kind !== 'dynamic-import' || external.includes(args.path) || isBuiltin(args.path)) return undefined;
      return { path: args.path, namespace: 'dynamic-package', pluginData: args.resolveDir };
    });
    builder.onLoad({ filter: /.*/, namespace: 'dynamic-package' }, (args) => {
      const specifier = JSON.stringify(args.path);
      let contents = `export * from ${specifier};`;
      const require = createRequire(join(args.pluginData, 'importer.js'));
      const path = require.resolve(args.path);
      if (!path.endsWith('.mjs')) {
        try {
          const names = Object.keys(require(path)).filter((name) => /^[A-Za-z_$][\w$]*$/.test(name));
          contents = `import * as all from ${specifier};\nexport const { ${names.join(', ')} } = all;`;
        } catch (error) {
          if (error?.code !== 'ERR_REQUIRE_ESM') throw error;
        }
      }
      return { contents, resolveDir: args.pluginData, loader: 'js' };
    });
  },
};

await rm(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: ['src/main.ts', 'src/prune.ts'],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  sourcesContent: false,
  // A third less source for V8 to read and keep (6 MB less idle RSS); names are kept, so a
  // dependency's frame in a stack trace still says which function it was.
  minifyWhitespace: true,
  minifySyntax: true,
  metafile: true,
  // A native addon; pino-pretty is a devDependency, imported only when it is installed.
  external,
  // CommonJS dependencies `require` Node's modules; an ES module has no `require` of its own.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  plugins: [ownModuleUrls, dynamicPackages],
  logLevel: 'warning',
});
for (const output of Object.keys(result.metafile.outputs)) {
  if (output.endsWith('.map')) await keepOwnSources(join(root, output));
}

/** Drops the mappings (and sources, names) that point into node_modules from a source map. */
async function keepOwnSources(path) {
  const map = JSON.parse(await readFile(path, 'utf8'));
  const sourceIndex = new Map();
  const sources = [];
  map.sources.forEach((source, index) => {
    if (!source.includes('node_modules/')) {
      sourceIndex.set(index, sources.length);
      sources.push(source);
    }
  });
  const nameIndex = new Map();
  const names = [];
  const state = { source: 0, line: 0, column: 0, name: 0 };
  const written = { source: 0, line: 0, column: 0, name: 0 };
  const lines = map.mappings.split(';').map((line) => {
    let generated = 0;
    let writtenColumn = 0;
    let previousKept = false;
    const segments = [];
    for (const segment of line ? line.split(',') : []) {
      const fields = decode(segment);
      generated += fields[0];
      if (fields.length > 1) {
        state.source += fields[1];
        state.line += fields[2];
        state.column += fields[3];
        if (fields.length === 5) state.name += fields[4];
      }
      const source = fields.length > 1 ? sourceIndex.get(state.source) : undefined;
      if (source === undefined) {
        // Unmapped or dependency code: it ends the previous (own) mapping and maps to nothing.
        if (previousKept) {
          segments.push(encode([generated - writtenColumn]));
          writtenColumn = generated;
        }
        previousKept = false;
        continue;
      }
      const out = [generated - writtenColumn, source - written.source, state.line - written.line];
      out.push(state.column - written.column);
      if (fields.length === 5) {
        let name = nameIndex.get(state.name);
        if (name === undefined) {
          name = names.length;
          nameIndex.set(state.name, name);
          names.push(map.names[state.name]);
        }
        out.push(name - written.name);
        written.name = name;
      }
      writtenColumn = generated;
      written.source = source;
      written.line = state.line;
      written.column = state.column;
      previousKept = true;
      segments.push(encode(out));
    }
    return segments.join(',');
  });
  await writeFile(path, JSON.stringify({ ...map, sources, names, mappings: lines.join(';') }));
}

/** One segment's base64 VLQ fields. */
function decode(segment) {
  const fields = [];
  let value = 0;
  let shift = 0;
  for (const char of segment) {
    const digit = BASE64.indexOf(char);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
    } else {
      fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return fields;
}

function encode(fields) {
  let text = '';
  for (const field of fields) {
    let value = field < 0 ? (-field << 1) | 1 : field << 1;
    do {
      let digit = value & 31;
      value >>>= 5;
      if (value > 0) digit |= 32;
      text += BASE64[digit];
    } while (value > 0);
  }
  return text;
}
