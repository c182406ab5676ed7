/**
 * Renaming a store path's tree. Moving a directory to another parent rewrites its `..` entry,
 * which needs write permission on the directory itself: root has it anyway, but a store owned
 * by a user holds 0555 directories. Such a directory is made writable for the move only.
 */
import { chmodSync, renameSync } from 'node:fs';

export function moveIntoPlace(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EACCES') throw error;
    chmodSync(from, 0o755);
    try {
      renameSync(from, to);
    } catch (again) {
      chmodSync(from, 0o555);
      throw again;
    }
    chmodSync(to, 0o555);
  }
}
