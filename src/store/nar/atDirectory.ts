/**
 * openat(2) semantics for Node, which has no *at calls: a directory is held open as an fd
 * and entries are created as `/proc/self/fd/<fd>/<name>`. The kernel resolves the fd link to
 * the directory itself (not to a path that could be swapped), and mkdir, symlink and
 * open(O_CREAT|O_EXCL|O_NOFOLLOW) neither follow a final symlink nor reuse an existing name.
 * So an entry can only ever land inside the directory we created, whatever the NAR holds.
 */
import { closeSync, constants, existsSync, fchmodSync, futimesSync, lutimesSync, mkdirSync, openSync, symlinkSync } from 'node:fs';

const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const NEW_FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

let procFdSeen = false;

/**
 * Whether /proc/self/fd is there (entries are reached through it). Once seen it is taken to
 * stay: the look-up cost ~8 us a restore, and a daemon importing ten thousand paths asked it
 * for each.
 */
export function procFdAvailable(): boolean {
  procFdSeen ||= existsSync('/proc/self/fd');
  return procFdSeen;
}

/** An open directory in which entries are created relative to its fd. */
export class AtDirectory {
  private readonly prefix: Buffer;

  private constructor(
    readonly fd: number,
    /** For messages only; never used to reach the directory. */
    readonly displayPath: string,
  ) {
    this.prefix = Buffer.from(`/proc/self/fd/${fd}/`);
  }

  /** Opens an existing directory (the parent of a restore target; its path is trusted). */
  static open(path: string): AtDirectory {
    return new AtDirectory(openSync(path, constants.O_RDONLY | constants.O_DIRECTORY), path);
  }

  private at(name: Buffer): Buffer {
    return Buffer.concat([this.prefix, name]);
  }

  private show(name: Buffer): string {
    return `${this.displayPath}/${name.toString('utf8')}`;
  }

  /** Creates a directory (writable by its owner at least, so that it can be filled) and opens it. */
  mkdir(name: Buffer, mode = 0o700): AtDirectory {
    mkdirSync(this.at(name), mode);
    // O_NOFOLLOW|O_DIRECTORY: had anything replaced the new directory, this fails.
    return new AtDirectory(openSync(this.at(name), DIRECTORY_FLAGS), this.show(name));
  }

  /** Creates a new regular file and returns its fd, open for writing. */
  createFile(name: Buffer, mode = 0o600): number {
    return openSync(this.at(name), NEW_FILE_FLAGS, mode);
  }

  symlink(name: Buffer, target: Buffer): void {
    symlinkSync(target, this.at(name));
  }

  /** Sets a symlink's own times (lutimes never follows the final component). */
  setSymlinkTimes(name: Buffer, atime: number, mtime: number): void {
    lutimesSync(this.at(name), atime, mtime);
  }

  /** Sets this directory's times; done after its last entry, which would change them again. */
  setTimes(atime: number, mtime: number): void {
    futimesSync(this.fd, atime, mtime);
  }

  displayName(name: Buffer): string {
    return this.show(name);
  }

  chmod(mode: number): void {
    fchmodSync(this.fd, mode);
  }

  close(): void {
    closeSync(this.fd);
  }
}
