/**
 * Arguments may be symlinks into the store (`./result`): follow links until the path
 * lies in the store directory, then take the store path it belongs to, as nix-store does.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { toStorePath } from '../format/storePath.js';

const MAX_LINKS = 64;

export function followLinksToStorePath(arg: string, storeDir: string): string {
  let path = resolve(arg);
  for (let i = 0; i < MAX_LINKS && !path.startsWith(storeDir + '/'); i++) {
    let isLink: boolean;
    try {
      isLink = lstatSync(path).isSymbolicLink();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
      throw e;
    }
    if (!isLink) break;
    path = resolve(dirname(path), readlinkSync(path));
  }
  return toStorePath(path, storeDir);
}
