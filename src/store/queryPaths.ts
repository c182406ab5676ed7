/** Queries over the whole set of valid paths. */
import { InvalidPathError } from '../format/errors.js';
import { HASH_PART_LENGTH } from '../format/storePath.js';
import { isNix32 } from '../format/base32.js';
import type { StoreDatabase } from './database.js';

/** The valid path whose hash part is `hashPart`, if any (`nix-store -q --hash-part` lookups). */
export function queryPathFromHashPart(db: StoreDatabase, hashPart: string): string | undefined {
  if (hashPart.length !== HASH_PART_LENGTH || !isNix32(hashPart)) {
    throw new InvalidPathError(`invalid hash part '${hashPart}'`);
  }
  const prefix = `${db.storeDir}/${hashPart}`;
  // Paths sort by hash part, so the first path not below the prefix is the only candidate.
  const path = db.columnStatement('select path from ValidPaths where path >= ? limit 1').get(prefix) as
    | string
    | undefined;
  return path !== undefined && path.startsWith(prefix + '-') ? path : undefined;
}

/** Every valid path, sorted. */
export function queryAllValidPaths(db: StoreDatabase): string[] {
  const paths = db.columnStatement('select path from ValidPaths').all() as string[];
  return paths.sort();
}
