/**
 * The closure of some paths, and with `includeOutputs` also the valid outputs of every
 * derivation in it and their closures (`-qR --include-outputs`, the serve protocol's QueryClosure).
 */
import { isDerivationPath } from '../format/storePath.js';
import { computeClosure } from './closure.js';
import type { StoreDatabase } from './database.js';
import { queryDerivationOutputs } from './derivers.js';
import { isValidPath } from './queryPathInfo.js';

export function closureWithOutputs(db: StoreDatabase, roots: string[], includeOutputs: boolean): Set<string> {
  const closure = computeClosure(db, roots);
  if (!includeOutputs) return closure;
  const seenDrvs = new Set<string>();
  for (;;) {
    const more: string[] = [];
    for (const path of closure) {
      if (!isDerivationPath(path) || seenDrvs.has(path)) continue;
      seenDrvs.add(path);
      for (const out of queryDerivationOutputs(db, path).values()) {
        if (!closure.has(out) && isValidPath(db, out)) more.push(out);
      }
    }
    if (more.length === 0) return closure;
    for (const p of computeClosure(db, more)) closure.add(p);
  }
}
