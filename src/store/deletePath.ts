/**
 * Removes a file tree that may contain read-only directories (store paths are 0555) and
 * that a hostile process may have shaped (a build directory, a build's output): every
 * entry is reached relative to its parent directory's descriptor (`/proc/self/fd/N/name`,
 * Node's stand-in for openat), directories are opened with O_NOFOLLOW, and unlink never
 * follows a symlink, so no link planted in the tree, or swapped in meanwhile, leads the
 * deletion (or the chmod that makes a directory writable) outside it.
 */
import { chmodSync, closeSync, constants, fchmodSync, lstatSync, openSync, readdirSync, renameSync, rmdirSync, unlinkSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fileIo } from './fileIo.js';

const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/**
 * Removes `path` and everything under it. Returns the bytes freed as nix 2.8 counts them:
 * the sizes of the files (and symlinks) with at most one other hard link (which, in an
 * optimised store, is their `.links` entry, removed by the collector next), directories
 * not counted.
 */
export function deletePathSync(path: string): number {
  const natively = removeNatively(path);
  if (natively.done) return natively.bytes;
  const freed = { bytes: natively.bytes };
  removeEntry(Buffer.from(path), freed, undefined);
  return freed.bytes;
}

/** Deeper than this the addon stops (one descriptor per level is open) and the code below goes on. */
const NATIVE_DEPTH = 256;
const removed = new Float64Array(1);

/**
 * The same removal in the file addon, with the same guarantees (every entry reached
 * relative to its parent's descriptor, never through a symlink) and a tenth of the calls
 * into Node: a garbage collection deletes tens of thousands of trees. `done` false: the
 * addon is not there, the tree is deeper than NATIVE_DEPTH, or a call failed (`bytes`
 * then counts what it removed; the caller removes the rest, or fails with Node's error).
 */
function removeNatively(path: string): { done: boolean; bytes: number } {
  const io = fileIo();
  const name = basename(path);
  // Names the addon cannot take (a path ending in '/', '.', a NUL, too long) go the long
  // way, which gives Node's own errors for them.
  if (!io || name === '' || name === '.' || name === '..' || path.endsWith('/') || path.includes('\0') || Buffer.byteLength(path) >= 4096) {
    return { done: false, bytes: 0 };
  }
  removed[0] = 0;
  const status = io.removeTree(dirname(path), name, NATIVE_DEPTH, removed);
  if (status === 0) return { done: true, bytes: removed[0]! };
  // Too deep (-ELOOP), or a failure: the code in Node goes on from what is left, and so
  // fails, if it does, with Node's own error naming the entry and the call.
  return { done: false, bytes: removed[0]! };
}

/**
 * Deleting many trees, as a service the store is given (like its hashing): on the calling
 * thread here, on the pool's threads in the CLI.
 */
export interface TreeDeleting {
  /**
   * Deletes each of `paths`; `trusted`: trees nobody else can change meanwhile (see
   * deleteTrustedTreeSync). Resolves with the bytes freed.
   */
  deleteTrees(paths: readonly string[], trusted: boolean): Promise<number>;
  /** Told early that deletions will come (threads can start meanwhile). */
  prepare?(): void;
}

export function deleteTreesSync(paths: readonly string[], trusted: boolean): number {
  let bytes = 0;
  for (const path of paths) bytes += trusted ? deleteTrustedTreeSync(path) : deletePathSync(path);
  return bytes;
}

export const deletingHere: TreeDeleting = {
  deleteTrees: (paths, trusted) => Promise.resolve(deleteTreesSync(paths, trusted)),
};

/**
 * Renames `from` to `to` in another directory. A directory moving out of its parent needs
 * write permission on itself (its `..` changes): a read-only store path refuses a user
 * (not root) that until it is made writable, through a descriptor that never follows a link.
 */
export function moveOutOfDirectory(from: string, to: string): void {
  try {
    renameSync(from, to);
    return;
  } catch (e) {
    // Not for want of write permission on a directory: nothing to make writable.
    if (errnoOf(e) !== 'EACCES' || !lstatSync(from).isDirectory()) throw e;
  }
  const fd = openSync(from, DIRECTORY_FLAGS);
  try {
    fchmodSync(fd, 0o700);
  } finally {
    closeSync(fd);
  }
  renameSync(from, to);
}

/**
 * deletePathSync for a tree that nobody but this user can change while it is deleted: the
 * content of a valid store path (read-only, owned by the store's owner) moved into the
 * collector's private trash. With the addon, as deletePathSync; without it, entries are
 * reached by plain paths: no descriptor per directory, ~40% fewer system calls. Returns the
 * bytes freed, counted as deletePathSync.
 */
export function deleteTrustedTreeSync(path: string): number {
  const natively = removeNatively(path);
  if (natively.done) return natively.bytes;
  return natively.bytes + deleteTrustedTreeByPaths(path);
}

function deleteTrustedTreeByPaths(path: string): number {
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return 0;
    throw e;
  }
  if (!st.isDirectory()) {
    unlinkSync(path);
    return countedSize(st);
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
    bytes += countedSize(st);
  }
  return bytes;
}

/** What deleting one non-directory frees, as nix counts it (see deletePathSync). */
function countedSize(st: { nlink: number; size: number }): number {
  return st.nlink <= 2 ? st.size : 0;
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
  freed.bytes += countedSize(st);
}
