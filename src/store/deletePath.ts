/**
 * Removes a file tree that may contain read-only directories (store paths are 0555) and
 * that a hostile process may have shaped (a build directory, a build's output): every
 * entry is reached relative to its parent directory's descriptor (`/proc/self/fd/N/name`,
 * Node's stand-in for openat), directories are opened with O_NOFOLLOW, and unlink never
 * follows a symlink, so no link planted in the tree, or swapped in meanwhile, leads the
 * deletion (or the chmod that makes a directory writable) outside it.
 */
import { chmodSync, closeSync, constants, fchmodSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmdirSync, unlinkSync } from 'node:fs';
import { threadId } from 'node:worker_threads';

const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/**
 * Removes `path` and everything under it. Returns the bytes freed as nix counts them: the
 * sizes of the files (and symlinks) that had no other hard link, directories not counted.
 */
export function deletePathSync(path: string): number {
  const freed = { bytes: 0 };
  removeEntry(Buffer.from(path), freed, undefined);
  return freed.bytes;
}

/**
 * Deleting many trees, as a service the store is given (like its hashing): on the calling
 * thread here, on the pool's threads in the CLI.
 */
export interface TreeDeleting {
  /**
   * Moves each of `paths` into the directory `trash` (a rename: the name is gone at once)
   * and deletes it there; a path already gone is skipped. `trusted`: trees nobody else can
   * change meanwhile (see deleteTrustedTreeSync). Resolves with the bytes freed.
   */
  trashAndDelete(paths: readonly string[], trash: string, trusted: boolean): Promise<number>;
  /** Told early that deletions will come (threads can start meanwhile). */
  prepare?(): void;
}

export function trashAndDeleteSync(paths: readonly string[], trash: string, trusted: boolean): number {
  let bytes = 0;
  // A directory of its own per call: two threads emptying one directory would wait on its lock.
  const own = `${trash}/${process.pid}-${threadId}-${++calls}`;
  mkdirSync(own, { mode: 0o700 });
  for (const path of paths) {
    const trashed = `${own}/${path.slice(path.lastIndexOf('/') + 1)}`;
    try {
      moveDirectoryOrFile(path, trashed);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') continue;
      throw e;
    }
    bytes += trusted ? deleteTrustedTreeSync(trashed) : deletePathSync(trashed);
  }
  rmdirSync(own);
  return bytes;
}

let calls = 0;

/**
 * Renames `from` to `to` in another directory. A directory moving out of its parent needs
 * write permission on itself (its `..` changes): a read-only store path refuses a user
 * (not root) that until it is made writable, through a descriptor that never follows a link.
 */
function moveDirectoryOrFile(from: string, to: string): void {
  try {
    renameSync(from, to);
    return;
  } catch (e) {
    if (errnoOf(e) !== 'EACCES') throw e;
  }
  const fd = openSync(from, DIRECTORY_FLAGS);
  try {
    fchmodSync(fd, 0o700);
  } finally {
    closeSync(fd);
  }
  renameSync(from, to);
}

export const deletingHere: TreeDeleting = {
  trashAndDelete: (paths, trash, trusted) => Promise.resolve(trashAndDeleteSync(paths, trash, trusted)),
};

/**
 * deletePathSync for a tree that nobody but this user can change while it is deleted: the
 * content of a valid store path (read-only, owned by the store's owner) moved into the
 * collector's private trash. Entries are reached by plain paths: no descriptor per
 * directory, ~40% fewer system calls. Returns the bytes freed, counted as deletePathSync.
 */
export function deleteTrustedTreeSync(path: string): number {
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return 0;
    throw e;
  }
  if (!st.isDirectory()) {
    unlinkSync(path);
    return st.nlink === 1 ? st.size : 0;
  }
  const bytes = emptyTrusted(path);
  rmdirSync(path);
  return bytes;
}

function emptyTrusted(dir: string): number {
  let bytes = 0;
  let writable = false;
  // Read-only store directories refuse a user (not root) their entries: made writable once asked.
  const inWritable = (remove: () => void): void => {
    try {
      remove();
    } catch (e) {
      if (writable || errnoOf(e) !== 'EACCES') throw e;
      chmodSync(dir, 0o700);
      writable = true;
      remove();
    }
  };
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const child = `${dir}/${entry.name}`;
    if (entry.isDirectory()) {
      bytes += emptyTrusted(child);
      inWritable(() => rmdirSync(child));
      continue;
    }
    const st = lstatSync(child);
    inWritable(() => unlinkSync(child));
    if (st.nlink === 1) bytes += st.size;
  }
  return bytes;
}

interface Freed {
  bytes: number;
}

/**
 * The directory an entry is in, made writable only when a removal from it is refused: root
 * never needs that, and a user's read-only store directory costs one failed call.
 */
interface Parent {
  fd: number;
  writable: boolean;
}

/** Runs `remove`; refused for want of write permission on the parent, makes it writable and tries once more. */
function inWritableParent(parent: Parent | undefined, remove: () => void): void {
  try {
    remove();
  } catch (e) {
    if (parent === undefined || parent.writable || (errnoOf(e) !== 'EACCES' && errnoOf(e) !== 'EPERM')) throw e;
    // The directory is going anyway: its mode need not be kept.
    fchmodSync(parent.fd, 0o700);
    parent.writable = true;
    remove();
  }
}

/** Removes one entry, named by a path whose last component is never followed. */
function removeEntry(path: Buffer, freed: Freed, parent: Parent | undefined): void {
  let fd: number;
  try {
    fd = openSync(path, DIRECTORY_FLAGS);
  } catch (e) {
    // Not a directory (or a symlink, which O_NOFOLLOW refuses): unlink it as it is.
    if (errnoOf(e) === 'ENOTDIR' || errnoOf(e) === 'ELOOP') {
      unlinkIfNotDirectory(path, freed, parent);
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
  inWritableParent(parent, () => rmdirSync(path));
}

function emptyDirectory(fd: number, freed: Freed): void {
  const self: Parent = { fd, writable: false };
  const base = Buffer.from(`/proc/self/fd/${fd}/`);
  for (const entry of readdirSync(base, { withFileTypes: true, encoding: 'buffer' })) {
    const child = Buffer.concat([base, entry.name]);
    if (entry.isDirectory()) removeEntry(child, freed, self);
    else unlinkIfNotDirectory(child, freed, self);
  }
}

/** Unlinks a non-directory; one that became a directory meanwhile is removed as one. */
function unlinkIfNotDirectory(path: Buffer, freed: Freed, parent: Parent | undefined): void {
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return;
    throw e;
  }
  if (st.isDirectory()) return removeEntry(path, freed, parent);
  try {
    inWritableParent(parent, () => unlinkSync(path));
  } catch (e) {
    if (errnoOf(e) === 'EISDIR') return removeEntry(path, freed, parent);
    if (errnoOf(e) === 'ENOENT') return;
    throw e;
  }
  if (st.nlink === 1) freed.bytes += st.size;
}
