/**
 * Removes a file tree that may contain read-only directories (store paths are 0555),
 * without following symlinks. Used to clean up temporary restores and failed additions.
 */
import { closeSync, constants, fchmodSync, lstatSync, openSync, readdirSync, rmSync, rmdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

export function deletePathSync(path: string): void {
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return;
    throw e;
  }
  if (!st.isDirectory()) {
    unlinkSync(path);
    return;
  }
  try {
    rmSync(path, { recursive: true, force: true });
    return;
  } catch (e) {
    // Without CAP_DAC_OVERRIDE a 0555 directory cannot lose its entries: make it writable first.
    if (errnoOf(e) !== 'EACCES' && errnoOf(e) !== 'EPERM') throw e;
  }
  // fchmod on a descriptor opened without following links: never chmod a symlink's target.
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    fchmodSync(fd, 0o700);
  } finally {
    closeSync(fd);
  }
  for (const entry of readdirSync(path)) deletePathSync(join(path, entry));
  rmdirSync(path);
}
