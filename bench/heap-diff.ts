// Profiling aid (not a benchmark): what `count` subscribers added to the heap, by kind of object,
// from the two snapshots `npx tsx bench/profile.ts heap <count>` writes:
//   npx tsx bench/heap-diff.ts <before.heapsnapshot> <after.heapsnapshot> <count> [rows]
// Each row: bytes and objects per subscriber, then V8's node type and name (closures by function
// name, objects by constructor). Compiled code shows up too: it is shared, and weighs less per
// subscriber the more there are.
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** Count and self size of the nodes of each type and name. */
function tally(file: string): Map<string, { count: number; bytes: number }> {
  const { snapshot, nodes, strings } = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snapshot.meta.node_fields;
  const types = snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [
    number,
    number,
    number,
  ];
  const rows = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < nodes.length; i += fields.length) {
    const type = types[nodes[i + typeAt] as number] as string;
    // A string's name is its text: strings are grouped by type alone.
    const name = type.includes('string') ? '' : (strings[nodes[i + nameAt] as number] ?? '').slice(0, 60);
    const key = `${type} ${name}`;
    const row = rows.get(key) ?? { count: 0, bytes: 0 };
    row.count++;
    row.bytes += nodes[i + sizeAt] as number;
    rows.set(key, row);
  }
  return rows;
}

const [beforeFile, afterFile, countArg, rowsArg] = process.argv.slice(2);
if (!beforeFile || !afterFile || !countArg) {
  console.error('usage: npx tsx bench/heap-diff.ts <before.heapsnapshot> <after.heapsnapshot> <count> [rows]');
  process.exit(2);
}
const count = Number(countArg);
const before = tally(beforeFile);
const diff = [...tally(afterFile)].map(([key, after]) => {
  const was = before.get(key) ?? { count: 0, bytes: 0 };
  return { key, bytes: (after.bytes - was.bytes) / count, objects: (after.count - was.count) / count };
});
diff.sort((a, b) => b.bytes - a.bytes);
const total = diff.reduce((sum, row) => sum + row.bytes, 0);
console.log(`${total.toFixed(0)} bytes per subscriber (heap only; sockets' native memory is not in a snapshot)`);
for (const row of diff.slice(0, Number(rowsArg ?? 40))) {
  console.log(`${row.bytes.toFixed(1).padStart(8)} B ${row.objects.toFixed(2).padStart(7)}  ${row.key}`);
}
