/** The reference graph, one edge at a time. */
import type { StoreDatabase } from './database.js';
import { PathNotValidError } from './dbErrors.js';
import { queryPathId } from './queryPathInfo.js';

/** Paths that `path` refers to (sorted; includes `path` for a self reference). */
export function queryReferences(db: StoreDatabase, path: string): string[] {
  const id = queryPathId(db, path);
  if (id === undefined) throw new PathNotValidError(path);
  const refs = db.columnStatement('select path from Refs join ValidPaths on reference = id where referrer = ?').all(id);
  return (refs as string[]).sort();
}

/** Valid paths that refer to `path` (sorted; includes `path` for a self reference). */
export function queryReferrers(db: StoreDatabase, path: string): string[] {
  const id = queryPathId(db, path);
  if (id === undefined) throw new PathNotValidError(path);
  const refs = db.columnStatement('select path from Refs join ValidPaths on referrer = id where reference = ?').all(id);
  return (refs as string[]).sort();
}
