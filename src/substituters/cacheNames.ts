/** What the reader and the writer of a binary cache must agree on. */
import { parseStorePath } from '../format/storePath.js';
import { CacheInfoError } from './errors.js';

/** `<hashpart>.narinfo`: where a cache keeps what it says of `path`. */
export function narInfoName(path: string, storeDir: string): string {
  return `${parseStorePath(path, storeDir).hashPart}.narinfo`;
}

/** A cache for another store directory serves other paths under the same names: refused, as Nix does. */
export function checkCacheStoreDir(uri: string, cacheStoreDir: string | undefined, storeDir: string): void {
  if (cacheStoreDir !== undefined && cacheStoreDir !== storeDir) {
    throw new CacheInfoError(`binary cache '${uri}' is for Nix stores with prefix '${cacheStoreDir}', not '${storeDir}'`);
  }
}
