/**
 * The one way new content becomes valid: unpacked in temporary directories in the
 * store, then, under the paths' locks and protected by temp roots, renamed into place
 * and registered in one transaction. Before that transaction commits none of the
 * paths is valid; a crash at any point leaves only garbage, never a partial path.
 */
import { join } from 'node:path';
import { moveIntoPlace } from './moveIntoPlace.js';
import { pathExists } from './pathExists.js';
import { PathLocks } from './locks/pathLock.js';
import { deletePathSync } from './deletePath.js';
import type { LocalStore } from './localStore.js';
import type { ValidPathInfo } from './pathInfo.js';
import { isValidPath } from './queryPathInfo.js';
import { derivationOutputsOf } from './derivationOutputs.js';
import { registerValidPaths } from './registerPaths.js';
import type { TempContent, TempDir } from './tempPath.js';
import { autoOptimise } from './optimise.js';

export interface NewPath {
  temp: TempContent;
  info: ValidPathInfo;
}

/** Paths locked and registered together: each holds a lock file open, so a bound keeps fds in check. */
const COMMIT_BATCH = 256;

/**
 * Moves each entry's content to its path and registers them, in batches of COMMIT_BATCH in
 * the given order (callers give dependencies first, so every committed batch leaves a closed
 * set valid). Entries whose path is valid already (added meanwhile by us or by nix) keep the
 * existing content. Returns the paths this call made valid. Temporary directories are
 * removed in every case.
 */
export async function commitPaths(store: LocalStore, entries: NewPath[]): Promise<string[]> {
  const made: string[] = [];
  try {
    for (let i = 0; i < entries.length; i += COMMIT_BATCH) made.push(...(await commitBatch(store, entries.slice(i, i + COMMIT_BATCH))));
  } finally {
    for (const { temp } of entries) temp.remove();
  }
  return made;
}

async function commitBatch(store: LocalStore, entries: NewPath[]): Promise<string[]> {
  try {
    // Linked while still in the temporary directories: a hard link survives the rename.
    await autoOptimise(store, entries.map((e) => e.temp.contentPath));
    for (const { info } of entries) await store.addTempRoot(info.path);
    const locks = await PathLocks.lock(store.layout, entries.map((e) => e.info.path), { onWait: store.onWait });
    const moved: string[] = [];
    try {
      const fresh = entries.filter((e) => !isValidPath(store.db, e.info.path));
      for (const { temp, info } of fresh) {
        const real = store.layout.toReal(info.path);
        // Anything at the real path now is garbage from an interrupted addition.
        deletePathSync(real);
        moveIntoPlace(temp.contentPath, real);
        moved.push(real);
      }
      const infos = fresh.map((e) => e.info);
      registerValidPaths(store.db, infos, derivationOutputsOf(store.layout, infos.map((i) => i.path)));
      // Emptied by the moves: removed off the main thread. (The others may hold a read-only tree.)
      for (const { temp } of fresh) temp.removeInBackground();
      return fresh.map((e) => e.info.path);
    } catch (e) {
      // Refused (say, a reference is not valid): leave no unregistered content behind.
      for (const real of moved) deletePathSync(real);
      throw e;
    } finally {
      locks.release();
    }
  } finally {
    for (const { temp } of entries) temp.remove();
  }
}

/** One path; true when this call made it valid. */
export async function commitPath(store: LocalStore, temp: TempDir, info: ValidPathInfo): Promise<boolean> {
  return (await commitPaths(store, [{ temp, info }])).length > 0;
}

/**
 * Puts `temp`'s content in place of the valid (but damaged or missing) `info.path` and
 * registers it anew: a repair. The old content is moved aside first and put back should
 * anything fail, so the path is never valid without content for longer than two renames.
 */
export async function replacePath(store: LocalStore, temp: TempDir, info: ValidPathInfo): Promise<void> {
  try {
    await store.addTempRoot(info.path);
    const locks = await PathLocks.lock(store.layout, [info.path], { onWait: store.onWait });
    try {
      const real = store.layout.toReal(info.path);
      const old = join(temp.path, 'old');
      const hadOld = pathExists(real);
      if (hadOld) moveIntoPlace(real, old);
      try {
        moveIntoPlace(temp.contentPath, real);
        registerValidPaths(store.db, [info], derivationOutputsOf(store.layout, [info.path]));
      } catch (error) {
        if (pathExists(real)) moveIntoPlace(real, temp.contentPath);
        if (hadOld) moveIntoPlace(old, real);
        throw error;
      }
    } finally {
      locks.release();
    }
  } finally {
    // The damaged content goes with the temporary directory.
    temp.remove();
  }
}
