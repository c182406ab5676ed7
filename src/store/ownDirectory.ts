/**
 * Directories of the store's own inside the store directory (`trash`, `.links`). In a
 * multi-user store the store directory is writable by the build users (mode 1775), so a
 * build without a sandbox could plant a symlink, or a directory it owns, under such a name,
 * to make the collector delete, or the optimiser link, somewhere else. Before use the name
 * must be a real directory owned by this process's user; anything else there is removed
 * (never following a link) and the directory made anew. In a sticky store directory nobody
 * else can then rename or replace it.
 */
import { lstatSync, mkdirSync } from 'node:fs';
import { deletePathSync } from './deletePath.js';

export class OwnDirectoryError extends Error {
  override name = 'OwnDirectoryError';
}

export function ensureOwnDirectory(path: string, mode: number): void {
  const uid = process.geteuid?.() ?? 0;
  for (let attempt = 0; attempt < 3; attempt++) {
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st !== undefined && st.isDirectory() && st.uid === uid) return;
    if (st !== undefined) deletePathSync(path);
    try {
      mkdirSync(path, { mode });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  throw new OwnDirectoryError(`cannot make '${path}' a directory of the store's own: something else keeps appearing there`);
}
