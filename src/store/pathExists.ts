/** Whether anything (a symlink included, never followed) is at `path`; errors other than ENOENT are thrown. */
import { lstatSync } from 'node:fs';

export function pathExists(path: string | Buffer): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
