import { basename } from 'node:path';

/**
 * Prints the profiling tools' comparison: µs of samples a unit of work (`unit`: a delivery, a
 * `next`…) per function, one map per tree, the `top` functions of each tree, the heaviest first.
 */
export function printProfileTable(
  perUnit: readonly Map<string, number>[],
  trees: readonly string[],
  top: number,
  unit: string,
): void {
  const sum = (map: Map<string, number>) => [...map.values()].reduce((a, b) => a + b, 0);
  console.log(`\nprofiled µs a ${unit} (all samples): ${perUnit.map((map) => sum(map).toFixed(1)).join(' | ')}`);
  const keys = new Set(
    perUnit.flatMap((map) =>
      [...map]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([key]) => key),
    ),
  );
  const heaviest = (key: string) => Math.max(...perUnit.map((map) => map.get(key) ?? 0));
  const rows = [...keys].sort((a, b) => heaviest(b) - heaviest(a));
  console.log(`| function | ${trees.map((tree) => basename(tree)).join(' | ')} |`);
  console.log(`|---|${trees.map(() => '---').join('|')}|`);
  for (const key of rows)
    console.log(`| ${key} | ${perUnit.map((map) => (map.get(key) ?? 0).toFixed(1)).join(' | ')} |`);
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** A V8 CPU profile (`.cpuprofile`), the parts the tools read. */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * Self time (µs) by function of a V8 profile, each keyed `name file:line` (src/ and node_modules
 * paths shortened); with `byFile`, by source file (src/, node:), package, or native function.
 */
export function selfTimes(profile: CpuProfile, byFile = false): Map<string, number> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const times = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i] as number) as ProfileNode;
    const delta = profile.timeDeltas[i + 1] ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url
      .replace(/^file:\/\//, '')
      .replace(/^.*\/node_modules\//, '~/')
      .replace(/^.*\/src\//, 'src/');
    const key = byFile
      ? fileKey(file, functionName)
      : `${functionName || '(anonymous)'} ${file ? `${file.includes('/') ? file : basename(file)}:${lineNumber + 1}` : ''}`;
    times.set(key, (times.get(key) ?? 0) + delta);
  }
  return times;
}

/** A sample's source file (src/, node:), its package (~/name or ~/@scope/name), or its native function. */
function fileKey(file: string, functionName: string): string {
  if (file.startsWith('src/') || file.startsWith('node:')) return file;
  if (!file.startsWith('~/')) return `${functionName} (native)`;
  const parts = file.split('/');
  return parts.slice(1, parts[1]?.startsWith('@') ? 3 : 2).join('/');
}
