/**
 * Removes a file tree that may contain read-only directories (store paths are 0555) and
 * that a hostile process may have shaped (a build directory, a build's output): every
 * entry is reached relative to its parent directory's descriptor (`/proc/self/fd/N/name`,
 * Node's stand-in for openat), directories are opened with O_NOFOLLOW, and unlink never
 * follows a symlink, so no link planted in the tree, or swapped in meanwhile, leads the
 * deletion (or the chmod that makes a directory writable) outside it.
 */
import { closeSync, constants, fchmodSync, fstatSync, lstatSync, openSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';

const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/**
 * Removes `path` and everything under it. Returns the bytes freed as nix counts them: the
 * sizes of the files (and symlinks) that had no other hard link, directories not counted.
 */
export function deletePathSync(path: string): number {
  try {
    lstatSync(path);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return 0;
    throw e;
  }
  const freed = { bytes: 0 };
  removeEntry(Buffer.from(path), freed);
  return freed.bytes;
}

interface Freed {
  bytes: number;
}

/** Removes one entry, named by a path whose last component is never followed. */
function removeEntry(path: Buffer, freed: Freed): void {
  let fd: number;
  try {
    fd = openSync(path, DIRECTORY_FLAGS);
  } catch (e) {
    // Not a directory (or a symlink, which O_NOFOLLOW refuses): unlink it as it is.
    if (errnoOf(e) === 'ENOTDIR' || errnoOf(e) === 'ELOOP') {
      unlinkIfNotDirectory(path, freed);
      return;
    }
    if (errnoOf(e) === 'ENOENT') return;
    throw e;
  }
  try {
    emptyDirectory(fd, freed);
  } finally {
    closeSync(fd);
  }
  rmdirSync(path);
}

function emptyDirectory(fd: number, freed: Freed): void {
  // Without CAP_DAC_OVERRIDE a 0555 directory cannot lose its entries: make it writable first.
  const mode = fstatSync(fd).mode & 0o7777;
  if ((mode & 0o700) !== 0o700) fchmodSync(fd, mode | 0o700);
  const base = Buffer.from(`/proc/self/fd/${fd}/`);
  for (const entry of readdirSync(base, { withFileTypes: true, encoding: 'buffer' })) {
    const child = Buffer.concat([base, entry.name]);
    if (entry.isDirectory()) removeEntry(child, freed);
    else unlinkIfNotDirectory(child, freed);
  }
}

/** Unlinks a non-directory; one that became a directory meanwhile is removed as one. */
function unlinkIfNotDirectory(path: Buffer, freed: Freed): void {
  let size = 0;
  try {
    const st = lstatSync(path, { bigint: false });
    if (st.isDirectory()) return removeEntry(path, freed);
    if (st.nlink === 1) size = st.size;
    unlinkSync(path);
    freed.bytes += size;
  } catch (e) {
    if (errnoOf(e) === 'EISDIR' || errnoOf(e) === 'EPERM') removeEntry(path, freed);
    else if (errnoOf(e) !== 'ENOENT') throw e;
  }
}
