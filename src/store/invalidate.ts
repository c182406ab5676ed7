/** Making paths invalid again (what GC and `--delete` do after removing the files, or before). */
import { topoSort } from './closure.js';
import type { StoreDatabase } from './database.js';
import { PathInUseError } from './dbErrors.js';
import { queryPathId } from './queryPathInfo.js';
import { queryReferences, queryReferrers } from './references.js';

/**
 * Removes the rows of the valid ones among `paths` (their `Refs` and `DerivationOutputs` go
 * with them) in one transaction. Refused, changing nothing, while a valid path outside the
 * set refers to one of them. Paths that are not valid are ignored.
 */
export function invalidatePaths(db: StoreDatabase, paths: Iterable<string>): void {
  db.transaction(() => {
    const valid = new Set([...paths].filter((p) => queryPathId(db, p) !== undefined));
    for (const path of [...valid].sort()) {
      const outside = queryReferrers(db, path).filter((r) => r !== path && !valid.has(r));
      if (outside.length > 0) throw new PathInUseError(path, outside);
    }
    // Referrers first: `Refs.reference` is ON DELETE RESTRICT, so a path can only go once
    // nothing refers to it any more.
    const order = topoSort(valid, (p) => queryReferences(db, p)).reverse();
    const remove = db.statement('delete from ValidPaths where path = ?');
    for (const path of order) remove.run(path);
  });
}
