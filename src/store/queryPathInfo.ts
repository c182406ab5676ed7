/** Validity and metadata of single paths. */
import type { StoreDatabase } from './database.js';
import { PathNotValidError } from './dbErrors.js';
import { rowToPathInfo, type PathInfoRow, type ValidPathInfo } from './pathInfo.js';

/** The `ValidPaths.id` of `path`, or undefined when it is not valid. */
export function queryPathId(db: StoreDatabase, path: string): number | undefined {
  const row = db.statement('select id from ValidPaths where path = ?').get(path) as { id: number } | undefined;
  return row?.id;
}

export function isValidPath(db: StoreDatabase, path: string): boolean {
  return queryPathId(db, path) !== undefined;
}

/** The subset of `paths` that is valid. */
export function queryValidPaths(db: StoreDatabase, paths: Iterable<string>): Set<string> {
  const valid = new Set<string>();
  for (const path of paths) if (isValidPath(db, path)) valid.add(path);
  return valid;
}

/** Metadata of a valid path, or undefined when it is not valid. */
export function queryPathInfo(db: StoreDatabase, path: string): ValidPathInfo | undefined {
  // Row and references must come from one snapshot, or a concurrent change could mix them.
  return db.sqlite.transaction(() => {
    const row = db
      .statement('select id, hash, registrationTime, deriver, narSize, ultimate, sigs, ca from ValidPaths where path = ?')
      .get(path) as PathInfoRow | undefined;
    if (row === undefined) return undefined;
    const refs = db
      .columnStatement('select path from Refs join ValidPaths on reference = id where referrer = ?')
      .all(row.id) as string[];
    return rowToPathInfo(path, row, refs);
  })();
}

/** Like queryPathInfo, but a path that is not valid is an error. */
export function requirePathInfo(db: StoreDatabase, path: string): ValidPathInfo {
  const info = queryPathInfo(db, path);
  if (info === undefined) throw new PathNotValidError(path);
  return info;
}
