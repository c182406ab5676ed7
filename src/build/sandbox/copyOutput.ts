import { closeSync, constants, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, readSync, readdirSync, readlinkSync, renameSync, symlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { errnoError, fileIo, ReadStatus, WRITE_FAILED } from '../../store/fileIo.js';
import { removeTree } from './buildDir.js';
import { SandboxError } from './errors.js';

const NOFOLLOW = constants.O_NOFOLLOW;

/** A path relative to an open directory: the /proc magic link resolves to the directory itself, so only `name` is looked up, like openat. */
function at(dirFd: number, name: string): string {
  return `/proc/self/fd/${dirFd}/${name}`;
}

function copyFile(fd: number, dest: string, mode: number, size: number): void {
  const out = openSync(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW, 0o600);
  try {
    // Sized to the file: a MiB of external memory per small output made V8 collect every few builds.
    const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(size, 1 << 20)));
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      let written = 0;
      while (written < n) written += writeSync(out, buffer, written, n - written);
    }
    // Keep the executable bit and nothing special: no setuid, setgid or sticky bit leaves the build.
    fchmodSync(out, mode & 0o777);
  } finally {
    closeSync(out);
  }
}

/** Copies the entry `name` of the open directory `dirFd` to `dest`, never following a symlink. */
function copyEntry(dirFd: number, name: string, dest: string): void {
  const seen = lstatSync(at(dirFd, name));
  if (seen.isSymbolicLink()) {
    // A symlink is copied as a symlink; its target is only read, never opened.
    symlinkSync(readlinkSync(at(dirFd, name)), dest);
    return;
  }
  if (!seen.isDirectory() && !seen.isFile()) {
    throw new SandboxError(`output '${dest}' contains '${name}', which is not a regular file, directory or symlink`);
  }
  // O_NOFOLLOW and the type check on the open descriptor catch a swap after the lstat.
  const fd = openSync(at(dirFd, name), constants.O_RDONLY | NOFOLLOW);
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory() !== seen.isDirectory() || stat.ino !== seen.ino) {
      throw new SandboxError(`output entry '${name}' changed while it was being copied to '${dest}'`);
    }
    if (stat.isDirectory()) {
      mkdirSync(dest, { mode: 0o700 });
      for (const child of readdirSync(`/proc/self/fd/${fd}`)) copyEntry(fd, child, join(dest, child));
      fchmodAfter(dest, stat.mode);
    } else {
      copyFile(fd, dest, stat.mode, stat.size);
    }
  } finally {
    closeSync(fd);
  }
}

function fchmodAfter(dir: string, mode: number): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | NOFOLLOW);
  try {
    fchmodSync(fd, (mode & 0o777) | 0o700);
  } finally {
    closeSync(fd);
  }
}

/** Outputs that are one regular file up to this size are copied in two calls of the file addon. */
const SMALL_FILE = 64 * 1024;
const readResult = new Float64Array(3);
let smallBuffer: Buffer | undefined;

/**
 * The usual output of a small build, one small regular file, read in one call (openat with
 * O_NOFOLLOW, fstat, read, close) and written in another (O_EXCL|O_NOFOLLOW, mode without
 * special bits). False when it is anything else, or the addon is not there: copyEntry does it.
 */
function copySmallFile(dirFd: number, name: string, dest: string): boolean {
  const io = fileIo();
  if (!io) return false;
  smallBuffer ??= Buffer.allocUnsafe(SMALL_FILE);
  if (io.readFileAt(dirFd, name, smallBuffer, 0, SMALL_FILE, readResult) !== ReadStatus.Read) return false;
  const size = readResult[0]!;
  const destDir = openSync(dirname(dest), constants.O_RDONLY | constants.O_DIRECTORY | NOFOLLOW);
  try {
    // mtime 1: the registration makes it so anyway.
    const status = io.writeFileAt(destDir, basename(dest), smallBuffer, 0, size, readResult[1]! & 0o777, 1);
    if (status === 0) return true;
    throw errnoError(status <= -WRITE_FAILED ? -(status + WRITE_FAILED) : -status, 'open', dest);
  } finally {
    closeSync(destDir);
  }
}

/**
 * Copies an output out of the sandbox's store directory to `dest` (which must not exist).
 * A copy, not a rename: a process that kept a descriptor into the build's output can change
 * only the old inodes, never what gets registered. The copy goes to a temporary name in the
 * destination directory first, then is renamed into place. True when it was one small file.
 */
export function copyOutput(sandboxStoreDir: string, baseName: string, dest: string): boolean {
  const dirFd = openSync(sandboxStoreDir, constants.O_RDONLY | constants.O_DIRECTORY | NOFOLLOW);
  const partial = `${dest}.tsnix-partial-${process.pid}`;
  try {
    removeTree(partial);
    const small = copySmallFile(dirFd, baseName, partial);
    if (!small) copyEntry(dirFd, baseName, partial);
    removeTree(dest);
    renameSync(partial, dest);
    return small;
  } catch (error) {
    removeTree(partial);
    throw error;
  } finally {
    closeSync(dirFd);
  }
}
