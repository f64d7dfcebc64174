import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The folders under src/ are the architecture, so their imports must form a
 * DAG: a cycle between two folders means neither can be understood, tested or
 * moved without the other. This reads the import lines of every src/**\/*.ts
 * (no compiler needed) and builds the graph of folders: the first path
 * segment under src/, with the files directly in src/ as the folder "root".
 */

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/**
 * Folder cycles that exist today and are being removed in other work. Each
 * entry is one strongly connected set of folders; it is allowed exactly as
 * listed, so a new folder joining it still fails. Each entry will be deleted
 * when its cycle is gone (the test below fails until it is), leaving this empty.
 */
/** Pairs of folders whose cycle was broken by moving shared code to src/source; they must never join again. */
const SEPARATED: readonly (readonly [string, string])[] = [
  ['config', 'inventory'],
  ['config', 'root'],
  ['source', 'root'],
];

/**
 * Folders at the bottom: they import nothing else from src/ but the leaves named with them, so anything
 * may import them (source's diagnostics escape a value with text's one escaper).
 */
const LEAVES: readonly (readonly [string, readonly string[]])[] = [
  ['net', []],
  ['source', ['text']],
  ['text', []],
];

interface Edge {
  file: string; // importing file, relative to src/
  specifier: string;
}
type FolderGraph = Map<string, Map<string, Edge[]>>;

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

function folderOf(path: string): string | undefined {
  const parts = relative(SRC, path).split(sep);
  if (parts[0] === '..') return undefined;
  return parts.length === 1 ? 'root' : parts[0];
}

/**
 * Relative specifiers of every static import or re-export, including ones
 * spread over several lines (`import {\n a,\n} from '...'`), side-effect
 * imports and dynamic `import('...')`. Packages are not folders of ours.
 */
function importSpecifiers(text: string): string[] {
  const statement = /^(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]|^import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;
  return [...text.matchAll(statement)].map((m) => m[1] ?? m[2] ?? m[3]).filter((s) => s.startsWith('.'));
}

function folderGraph(): FolderGraph {
  const graph: FolderGraph = new Map();
  for (const file of tsFiles(SRC)) {
    const from = folderOf(file)!;
    if (!graph.has(from)) graph.set(from, new Map());
    for (const specifier of importSpecifiers(readFileSync(file, 'utf8'))) {
      const to = folderOf(resolve(dirname(file), specifier));
      if (to === undefined || to === from) continue;
      const edges = graph.get(from)!;
      edges.set(to, [...(edges.get(to) ?? []), { file: relative(SRC, file), specifier }]);
    }
  }
  return graph;
}

/** Tarjan's strongly connected components with more than one folder: each is one or more cycles. */
function cyclicComponents(graph: FolderGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

/** A shortest path of at least one step from `from` to `to` through folders in `within` (so `from` may equal `to`). */
function shortestPath(graph: FolderGraph, from: string, to: string, within: ReadonlySet<string>): string[] {
  const previous = new Map<string, string>();
  const queue = [from];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!within.has(w)) continue;
      if (w === to) {
        const path = [to];
        for (let at: string | undefined = v; at !== undefined; at = at === from ? undefined : previous.get(at)) path.unshift(at);
        return path;
      }
      if (!previous.has(w) && w !== from) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [];
}

/** A cycle through `through` (one folder, or two) inside `component`, with the import that makes each step. */
function describeCycle(graph: FolderGraph, component: readonly string[], through: readonly string[]): string {
  const within = new Set(component);
  const [a, b = a] = through;
  const path = a === b ? shortestPath(graph, a, a, within) : [...shortestPath(graph, a, b, within), ...shortestPath(graph, b, a, within).slice(1)];
  const steps = path.slice(1).map((to, i) => {
    const edge = graph.get(path[i])!.get(to)![0];
    return `  ${path[i]} -> ${to}: src/${edge.file} imports '${edge.specifier}'`;
  });
  return [`${component.join(', ')} import each other, e.g. ${path.join(' -> ')}`, ...steps].join('\n');
}

describe('folder imports', () => {
  const graph = folderGraph();
  const cycles = cyclicComponents(graph);

  it('reads multi-line, type-only and re-exporting imports, and skips packages', () => {
    const text = [
      "import ipaddr from 'ipaddr.js';",
      "import type { A } from '../a/x.js';",
      'import {\n  b,\n  type C,\n} from "../b/y.js";',
      "export { d } from './d.js';",
      "export type { E } from '../e/z.js';",
      "import '../f/side-effect.js';",
      "const g = await import('../g/lazy.js');",
      "export const note = 'nothing is imported from here';",
    ].join('\n');
    expect(importSpecifiers(text)).toEqual(['../a/x.js', '../b/y.js', './d.js', '../e/z.js', '../f/side-effect.js', '../g/lazy.js']);
  });

  it('sees the folders it should (a broken parser would find no cycles at all)', () => {
    expect([...graph.keys()]).toEqual(expect.arrayContaining(['cli', 'config', 'inventory', 'source', 'root']));
    expect([...(graph.get('config')?.keys() ?? [])]).toContain('source');
  });

  it('has no folder cycles', () => {
    const hint = 'folders import each other: move what both need into a folder below them, as src/source is for config and inventory';
    expect(
      cycles.map((c) => describeCycle(graph, c, [c[0]])),
      hint,
    ).toEqual([]);
  });

  it.each(SEPARATED)('keeps %s and %s out of one cycle', (a, b) => {
    const joined = cycles.find((c) => c.includes(a) && c.includes(b));
    expect(joined && describeCycle(graph, joined, [a, b])).toBeUndefined();
  });

  it.each(LEAVES)('%s imports no other folder of src/ but %j', (leaf, allowed) => {
    const imports = [...(graph.get(leaf) ?? new Map<string, Edge[]>())]
      .filter(([to]) => !allowed.includes(to))
      .map(([to, edges]) => `${leaf} -> ${to}: src/${edges[0].file}`);
    expect(imports).toEqual([]);
  });
});
