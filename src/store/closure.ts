/** Closures over the reference graph and the dependency order Nix uses for exports. */
import type { StoreDatabase } from './database.js';
import { ReferenceCycleError } from './dbErrors.js';
import { queryReferences, queryReferrers } from './references.js';

export interface ClosureOptions {
  /** Follow referrers instead of references (`--referrers-closure`; what GC must keep together). */
  reverse?: boolean;
}

/**
 * The paths reachable from `paths` (themselves included): the requisites, or with `reverse`
 * everything that depends on them. Every starting path must be valid.
 */
export function computeClosure(db: StoreDatabase, paths: Iterable<string>, options: ClosureOptions = {}): Set<string> {
  const next = options.reverse ? queryReferrers : queryReferences;
  const closure = new Set<string>();
  const pending = [...paths];
  return db.sqlite.transaction(() => {
    while (pending.length > 0) {
      const path = pending.pop()!;
      if (closure.has(path)) continue;
      closure.add(path);
      for (const other of next(db, path)) if (!closure.has(other)) pending.push(other);
    }
    return closure;
  })();
}

/**
 * Orders `items` so that each comes after everything it refers to within the set, visiting
 * items and edges in sorted order. That is the order `nix-store -qR` prints and `--export`
 * writes, so this reproduces Nix's output byte for byte. Edges leaving the set and self
 * references are ignored. Iterative so that long chains cannot overflow the stack.
 */
export function topoSort(items: Iterable<string>, referencesOf: (path: string) => Iterable<string>): string[] {
  const set = new Set(items);
  const sorted: string[] = [];
  const done = new Set<string>();
  const onStack = new Set<string>();
  for (const root of [...set].sort()) {
    if (done.has(root)) continue;
    const stack: { path: string; children: string[]; next: number }[] = [];
    const enter = (path: string): void => {
      onStack.add(path);
      done.add(path);
      const children = [...referencesOf(path)].filter((c) => c !== path && set.has(c)).sort();
      stack.push({ path, children, next: 0 });
    };
    enter(root);
    while (stack.length > 0) {
      const frame = stack[stack.length - 1]!;
      if (frame.next < frame.children.length) {
        const child = frame.children[frame.next++]!;
        if (onStack.has(child)) throw new ReferenceCycleError(child, frame.path);
        if (!done.has(child)) enter(child);
      } else {
        stack.pop();
        onStack.delete(frame.path);
        sorted.push(frame.path);
      }
    }
  }
  return sorted;
}

/** Valid `paths` in dependency order (dependencies first), as `--export` writes them. */
export function topoSortPaths(db: StoreDatabase, paths: Iterable<string>): string[] {
  return db.sqlite.transaction(() => topoSort(paths, (path) => queryReferences(db, path)))();
}
