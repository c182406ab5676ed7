/**
 * Canonical metadata of a new store path, as Nix gives every path it registers: mtime 1
 * (so that builds which read timestamps are reproducible), modes 0444 or 0555 (executable
 * files and directories), no setuid, setgid or sticky bit, and owned by the store's owner.
 *
 * A build that ran without a sandbox wrote its output as the build user, in the real
 * store. Every entry it made is owned by that user; anything else got there by a hard link
 * to a file of someone else (`ln /etc/shadow $out/x`). Registering it would publish that
 * file, and canonicalising it would chown/chmod the original, so such an output is refused.
 *
 * Every entry is reached relative to its parent directory's descriptor and never followed.
 */
import { chmodSync, closeSync, constants, fchmodSync, fchownSync, fstatSync, futimesSync, lchownSync, lstatSync, lutimesSync, openSync, readdirSync, type Stats } from 'node:fs';
import { hashPathHere, hashSmallPathHere, type PathHashes } from './pathHashing.js';

export class OutputOwnershipError extends Error {
  override name = 'OutputOwnershipError';
}

export class UnsupportedFileTypeError extends Error {
  override name = 'UnsupportedFileTypeError';
}

export interface CanonicaliseOptions {
  /** Only entries owned by this uid are accepted (the build user of a build without a sandbox). */
  requireOwner?: number;
  /** Who the entries end up owned by (default: left as they are). */
  owner?: { uid: number; gid: number };
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

function at(dirFd: number, name: string): string {
  return `/proc/self/fd/${dirFd}/${name}`;
}

function canonicalMode(stat: Stats): number {
  return stat.mode & 0o111 || stat.isDirectory() ? 0o555 : 0o444;
}

function checkOwner(shownPath: string, stat: Stats, options: CanonicaliseOptions): void {
  if (options.requireOwner !== undefined && stat.uid !== options.requireOwner) {
    throw new OutputOwnershipError(`invalid ownership on file '${shownPath}'`);
  }
}

/**
 * Opens an entry to canonicalise it. A builder may leave a file or directory without read
 * permission (mode 000); root reads it anyway, its owner may first give itself read access,
 * as Nix's path-based chmod would. Anyone else's entry stays refused.
 */
function openReadable(path: string, seen: Stats): number {
  try {
    return openSync(path, OPEN_FLAGS);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EACCES' || seen.uid !== process.getuid?.()) throw error;
    chmodSync(path, seen.isDirectory() ? 0o700 : 0o400);
    return openSync(path, OPEN_FLAGS);
  }
}

/** Canonicalises one entry reached as `path` (through a parent descriptor), shown to users as `shownPath`. */
function canonicaliseEntry(path: string, shownPath: string, options: CanonicaliseOptions): void {
  const seen = lstatSync(path);
  checkOwner(shownPath, seen, options);
  if (seen.isSymbolicLink()) {
    if (options.owner && (seen.uid !== options.owner.uid || seen.gid !== options.owner.gid)) lchownSync(path, options.owner.uid, options.owner.gid);
    if (seen.mtimeMs !== 1000) lutimesSync(path, 1, 1);
    return;
  }
  if (!seen.isFile() && !seen.isDirectory()) throw new UnsupportedFileTypeError(`file '${shownPath}' has an unsupported type`);
  // O_NOFOLLOW | O_NONBLOCK: a symlink or FIFO swapped in after the lstat is neither followed nor waited on.
  const fd = openReadable(path, seen);
  try {
    const stat = fstatSync(fd);
    if (stat.ino !== seen.ino || stat.dev !== seen.dev) throw new UnsupportedFileTypeError(`file '${shownPath}' changed while it was being registered`);
    checkOwner(shownPath, stat, options);
    if (stat.isDirectory()) {
      for (const name of readdirSync(`/proc/self/fd/${fd}`)) canonicaliseEntry(at(fd, name), `${shownPath}/${name}`, options);
    }
    if (options.owner && (stat.uid !== options.owner.uid || stat.gid !== options.owner.gid)) fchownSync(fd, options.owner.uid, options.owner.gid);
    // After the chown, which clears setuid/setgid bits on its own for files.
    if ((stat.mode & 0o7777) !== canonicalMode(stat)) fchmodSync(fd, canonicalMode(stat));
    if (stat.mtimeMs !== 1000) futimesSync(fd, 1, 1);
  } finally {
    closeSync(fd);
  }
}

/** Canonicalises the tree at `realPath` in place. Throws before changing anything it refuses. */
export function canonicalisePath(realPath: string, options: CanonicaliseOptions = {}): void {
  // Ownership is checked over the whole tree first, so a refused output is left exactly as it was.
  if (options.requireOwner !== undefined) checkTree(realPath, realPath, options.requireOwner);
  canonicaliseEntry(realPath, realPath, options);
}

function checkTree(path: string, shownPath: string, uid: number): void {
  const stat = lstatSync(path);
  checkOwner(shownPath, stat, { requireOwner: uid });
  if (!stat.isDirectory()) return;
  const fd = openSync(path, OPEN_FLAGS | constants.O_DIRECTORY);
  try {
    for (const name of readdirSync(`/proc/self/fd/${fd}`)) checkTree(at(fd, name), `${shownPath}/${name}`, uid);
  } finally {
    closeSync(fd);
  }
}

/** A build output to register: where it is, who must own it, and its candidate references. */
export interface OutputToRegister extends CanonicaliseOptions {
  realPath: string;
  hashParts: string[];
}

/** Canonical metadata first, then the NAR hash and references in one read, on this thread. */
export async function canonicaliseAndHashHere(output: OutputToRegister): Promise<PathHashes> {
  canonicalisePath(output.realPath, output);
  return hashPathHere(output.realPath, output.hashParts, false);
}

/** The same for a small tree (a few files, a few hundred KiB at most), synchronously. */
export function canonicaliseAndHashSmall(output: OutputToRegister): PathHashes {
  canonicalisePath(output.realPath, output);
  return hashSmallPathHere(output.realPath, output.hashParts);
}
