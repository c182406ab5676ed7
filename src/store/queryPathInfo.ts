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
  // Row and references in one statement, so from one snapshot: a concurrent change cannot
  // mix them (and no transaction is begun and ended around two statements: a daemon asked
  // for ten thousand paths spent a third of its time on that). Store paths hold no spaces.
  const row = db
    .statement(
      `select v.id, v.hash, v.registrationTime, v.deriver, v.narSize, v.ultimate, v.sigs, v.ca,
         (select group_concat(r.path, ' ') from Refs join ValidPaths r on r.id = Refs.reference where Refs.referrer = v.id) as refs
       from ValidPaths v where v.path = ?`,
    )
    .get(path) as (PathInfoRow & { refs: string | null }) | undefined;
  if (row === undefined) return undefined;
  return rowToPathInfo(path, row, row.refs ? row.refs.split(' ') : []);
}

/** Like queryPathInfo, but a path that is not valid is an error. */
export function requirePathInfo(db: StoreDatabase, path: string): ValidPathInfo {
  const info = queryPathInfo(db, path);
  if (info === undefined) throw new PathNotValidError(path);
  return info;
}
