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
