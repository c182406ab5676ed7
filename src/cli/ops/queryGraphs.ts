/** The `-q --tree` and `-q --graph` renderings, character for character as nix-store prints them. */
import { topoSort } from '../../store/closure.js';

type References = (path: string) => string[];

const TREE_CONN = '├───';
const TREE_LAST = '└───';
const TREE_LINE = '│   ';
const TREE_NULL = '    ';

/** Each path once; later meetings print ` [...]`. Children in dependencies-first order. */
export function renderTree(roots: string[], references: References): string[] {
  const lines: string[] = [];
  const done = new Set<string>();
  // Iterative, so a deep closure cannot overflow the stack.
  const stack: { path: string; firstPad: string; tailPad: string }[] = roots.map((path) => ({ path, firstPad: '', tailPad: '' })).reverse();
  while (stack.length > 0) {
    const { path, firstPad, tailPad } = stack.pop()!;
    if (done.has(path)) {
      lines.push(`${firstPad}${path} [...]`);
      continue;
    }
    done.add(path);
    lines.push(`${firstPad}${path}`);
    // A self reference is listed too (it prints as ` [...]`), as nix-store does; topoSort
    // ignores self edges, so it only orders.
    const children = topoSort(references(path), references);
    for (let i = children.length - 1; i >= 0; i--) {
      const last = i === children.length - 1;
      stack.push({ path: children[i]!, firstPad: tailPad + (last ? TREE_LAST : TREE_CONN), tailPad: tailPad + (last ? TREE_NULL : TREE_LINE) });
    }
  }
  return lines;
}

const EDGE_COLOURS = ['black', 'red', 'green', 'blue', 'magenta', 'burlywood'];

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Graphviz dot: a work set always taking the smallest path next, edges from reference to referrer. */
export function renderGraph(roots: string[], references: References): string[] {
  const lines = ['digraph G {'];
  const pending = new SortedSet(roots);
  const done = new Set<string>();
  let colour = 0;
  while (pending.size > 0) {
    const path = pending.takeSmallest();
    if (done.has(path)) continue;
    done.add(path);
    const name = baseName(path);
    lines.push(`"${name}" [label = "${name.slice(33)}", shape = box, style = filled, fillcolor = "#ff0000"];`);
    for (const ref of [...references(path)].sort()) {
      if (ref === path) continue;
      if (!done.has(ref)) pending.add(ref);
      lines.push(`"${baseName(ref)}" -> "${name}" [color = "${EDGE_COLOURS[colour++ % EDGE_COLOURS.length]}"];`);
    }
  }
  lines.push('}');
  return lines;
}

/** A set from which the smallest member is taken next (a binary heap without duplicates). */
class SortedSet {
  private readonly heap: string[] = [];
  private readonly members = new Set<string>();
  constructor(items: Iterable<string>) {
    for (const item of items) this.add(item);
  }
  get size(): number {
    return this.members.size;
  }
  add(item: string): void {
    if (this.members.has(item)) return;
    this.members.add(item);
    const h = this.heap;
    h.push(item);
    for (let i = h.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (h[parent]! <= h[i]!) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
  }
  takeSmallest(): string {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]! < h[m]!) m = l;
        if (r < h.length && h[r]! < h[m]!) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    this.members.delete(top);
    return top;
  }
}
