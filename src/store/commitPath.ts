/**
 * The one way new content becomes a valid path: unpacked in a temporary directory in
 * the store, then, under the path's lock and protected by a temp root, renamed into
 * place and registered in one transaction. Before the transaction commits the path is
 * not valid; a crash at any point leaves only garbage.
 */
import { renameSync } from 'node:fs';
import { PathLocks } from './locks/pathLock.js';
import { deletePathSync } from './deletePath.js';
import type { LocalStore } from './localStore.js';
import type { ValidPathInfo } from './pathInfo.js';
import { isValidPath } from './queryPathInfo.js';
import { registerValidPaths } from './registerPaths.js';
import type { TempDir } from './tempPath.js';

/**
 * Moves `temp`'s content to `info.path` and registers it, unless the path is valid already
 * (then the content is dropped). Returns true when this call made the path valid.
 * The temporary directory is removed in every case.
 */
export async function commitPath(store: LocalStore, temp: TempDir, info: ValidPathInfo): Promise<boolean> {
  try {
    await store.addTempRoot(info.path);
    if (isValidPath(store.db, info.path)) return false;
    const locks = await PathLocks.lock(store.layout, [info.path], { onWait: store.onWait });
    try {
      // Someone (tsnix or nix) may have added it while we waited for the lock.
      if (isValidPath(store.db, info.path)) return false;
      const real = store.layout.toReal(info.path);
      // Anything at the real path now is garbage from an interrupted addition.
      deletePathSync(real);
      renameSync(temp.contentPath, real);
      try {
        registerValidPaths(store.db, [info]);
      } catch (e) {
        // Refused (say, a reference is not valid): leave no unregistered content behind.
        deletePathSync(real);
        throw e;
      }
      return true;
    } finally {
      locks.release();
    }
  } finally {
    temp.remove();
  }
}
