/** The `DerivationOutputs` table: which derivations produce a path, and what a derivation produces. */
import type { StoreDatabase } from './database.js';
import { PathNotValidError } from './dbErrors.js';
import { queryPathId } from './queryPathInfo.js';

/** Valid `.drv` paths that list `outPath` as one of their outputs (sorted). */
export function queryValidDerivers(db: StoreDatabase, outPath: string): string[] {
  const drvs = db
    .columnStatement('select v.path from DerivationOutputs d join ValidPaths v on d.drv = v.id where d.path = ?')
    .all(outPath) as string[];
  return [...new Set(drvs)].sort();
}

/** Output name → output path of a valid derivation, as recorded when it was registered. */
export function queryDerivationOutputs(db: StoreDatabase, drvPath: string): Map<string, string> {
  const id = queryPathId(db, drvPath);
  if (id === undefined) throw new PathNotValidError(drvPath);
  const rows = db.statement('select id, path from DerivationOutputs where drv = ?').all(id) as { id: string; path: string }[];
  return new Map(rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((r) => [r.id, r.path]));
}
