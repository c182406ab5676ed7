/** Whether valid paths still hold what the database says (for --repair): present, with their NAR hash. */
import { lstatSync } from 'node:fs';
import type { LocalStore } from '../store/localStore.js';
import { queryPathInfo } from '../store/queryPathInfo.js';

/** True when `path` is valid, present, and hashes to its recorded NAR hash. */
export async function isIntact(store: LocalStore, path: string): Promise<boolean> {
  const info = queryPathInfo(store.db, path);
  if (!info) return false;
  const real = store.layout.toReal(path);
  try {
    lstatSync(real);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  try {
    return (await store.hashing.hashPath(real, [], store.useCaseHack)).narHash.equals(info.narHash);
  } catch (error) {
    // Unreadable (a FIFO put in its place, a file without permissions): damaged as well.
    if (typeof (error as NodeJS.ErrnoException).code === 'string') return false;
    throw error;
  }
}
