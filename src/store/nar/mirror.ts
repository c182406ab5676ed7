/**
 * A copy of the tree being dumped, made from the very bytes that go into its NAR: what
 * `--add` needs (the store path's contents and their NAR hash) in one walk, without
 * parsing the NAR back. Restoring the NAR instead costs a parser step and a promise or
 * two per entry; for 100,000 small files that was more than the whole of nix's `--add`.
 *
 * The copy gets the store's metadata as it is made: files 0444 or 0555 (created with that
 * mode, as the descriptor that creates a file may write it whatever its mode, and given it
 * again after, as the umask may have taken bits), directories 0700 while they are filled
 * and 0555 after, and every modification time 1.
 *
 * Safety: the target's parent is a fresh 0700 directory of this process inside the store
 * (a TempDir), so nobody else can plant anything in it; names come from one readdir of
 * each source directory, so they are unique and never `.`, `..` or contain `/`; and every
 * entry is created with calls that fail on an existing name and do not follow a final
 * symlink. Should the source change during the walk, the copy is still exactly what was
 * hashed, because both come from the same read.
 */
import { chmodSync, closeSync, constants, fchmodSync, futimesSync, lutimesSync, mkdirSync, openSync, symlinkSync, utimesSync, writeSync } from 'node:fs';
import { MAX_DIRECTORY_FDS, type PlanItem } from './dumpPlanner.js';
import { errnoError, fileIo, WRITE_FAILED } from '../fileIo.js';
import { showPath, type FsPath } from './listDirectory.js';

/** Nix's canonical modification time for everything in the store. */
const CANONICAL_MTIME = 1;
const NEW_FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

export class Mirror {
  private readonly sourceLength: number;
  private readonly atime = Date.now() / 1000;
  private readonly io = fileIo();
  /**
   * The copies of the directories being filled, innermost last: the dump visits a tree
   * depth first, so the innermost is the parent of the file being copied.
   */
  private readonly open: number[] = [];

  constructor(
    private readonly sourceRoot: FsPath,
    readonly targetRoot: FsPath,
  ) {
    this.sourceLength = typeof sourceRoot === 'string' ? sourceRoot.length : sourceRoot.length;
  }

  /** Where the copy of `source` (the root or a path under it) goes. */
  targetOf(source: FsPath): FsPath {
    if (typeof source === 'string' && typeof this.sourceRoot === 'string' && typeof this.targetRoot === 'string') {
      return this.targetRoot + source.slice(this.sourceLength);
    }
    const sourceBytes = typeof source === 'string' ? Buffer.from(source, 'utf8') : source;
    const rootLength = typeof this.sourceRoot === 'string' ? Buffer.byteLength(this.sourceRoot) : this.sourceRoot.length;
    const targetBytes = typeof this.targetRoot === 'string' ? Buffer.from(this.targetRoot, 'utf8') : this.targetRoot;
    return Buffer.concat([targetBytes, sourceBytes.subarray(rootLength)]);
  }

  directory(source: FsPath): void {
    const target = this.targetOf(source);
    mkdirSync(target, 0o700);
    // O_NOFOLLOW|O_DIRECTORY: had anything replaced the new directory, this fails. Past a
    // depth, by path, so that a very deep tree does not run out of descriptors. 0700 again
    // whatever the umask took: the directory must be writable to be filled.
    const fd = this.open.length < MAX_DIRECTORY_FDS ? openSync(target, DIRECTORY_FLAGS) : -1;
    this.open.push(fd);
    if (fd >= 0) fchmodSync(fd, 0o700);
    else chmodSync(target, 0o700);
  }

  /** After the last entry: read-only, and the time that adding the entries changed. */
  directoryEnd(source: FsPath): void {
    const fd = this.open.pop();
    if (fd === undefined) throw new Error(`Mirror: '${showPath(source)}' ends no directory`);
    if (fd < 0) {
      const target = this.targetOf(source);
      chmodSync(target, 0o555);
      utimesSync(target, this.atime, CANONICAL_MTIME);
      return;
    }
    try {
      fchmodSync(fd, 0o555);
      futimesSync(fd, this.atime, CANONICAL_MTIME);
    } finally {
      closeSync(fd);
    }
  }

  /** The copy of a file whose contents are buffer[start, end), in one go. */
  writeFile(item: PlanItem, executable: boolean, buffer: Buffer, start: number, end: number): void {
    const mode = executable ? 0o555 : 0o444;
    const parent = this.open[this.open.length - 1];
    if (this.io && parent !== undefined && parent >= 0 && item.dirFd >= 0) {
      const status = this.io.writeFileAt(parent, item.diskName, buffer, start, end, mode, CANONICAL_MTIME);
      if (status < 0) {
        const target = showPath(this.targetOf(item.path));
        throw status > -WRITE_FAILED ? errnoError(status, 'open', target) : errnoError(status + WRITE_FAILED, 'write', target);
      }
      return;
    }
    const fd = this.openFile(item.path, executable);
    let complete = false;
    try {
      this.write(fd, buffer, start, end);
      complete = true;
    } finally {
      this.closeFile(fd, complete);
    }
  }

  /** Closes the directories still open: for a dump that ends early or fails. */
  close(): void {
    for (const fd of this.open.splice(0)) if (fd >= 0) closeSync(fd);
  }

  /** A new file for the contents of `source`; write them with `write`, then `closeFile`. */
  openFile(source: FsPath, executable: boolean): number {
    const mode = executable ? 0o555 : 0o444;
    const fd = openSync(this.targetOf(source), NEW_FILE_FLAGS, mode);
    // The umask can take bits at creation (and changes: the recursive store sets it briefly).
    try {
      fchmodSync(fd, mode);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    return fd;
  }

  write(fd: number, bytes: Buffer, start: number, end: number): void {
    for (let at = start; at < end; ) at += writeSync(fd, bytes, at, end - at);
  }

  /** Sets the time and closes; `complete` false (an error) only closes. */
  closeFile(fd: number, complete: boolean): void {
    try {
      if (complete) futimesSync(fd, this.atime, CANONICAL_MTIME);
    } finally {
      closeSync(fd);
    }
  }

  symlink(source: FsPath, linkTarget: Buffer): void {
    const target = this.targetOf(source);
    symlinkSync(linkTarget, target);
    lutimesSync(target, this.atime, CANONICAL_MTIME);
  }
}
