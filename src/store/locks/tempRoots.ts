/**
 * Temporary GC roots, in Nix's protocol: this process appends `path\0` to `temproots/<pid>`,
 * which it holds under an exclusive flock for as long as it lives (the kernel drops the lock
 * when it dies, which is how the GC tells live files from stale ones). A path is announced
 * here before it is registered, so that a running GC cannot delete it in between.
 */
import { closeSync, fstatSync, readdirSync, readFileSync, unlinkSync, writeSync, existsSync, mkdirSync, openSync, constants } from 'node:fs';
import { join } from 'node:path';
import { LockError } from '../dbErrors.js';
import type { StoreLayout } from '../layout.js';
import { openLockFile, tryLock, unlock, waitLock } from './flock.js';
import { GcSocketClient } from './gcSocketClient.js';

/** Opens (creating, mode 0600) the global GC lock file. */
export function openGCLock(layout: StoreLayout): number {
  return openLockFile(layout.gcLockPath, true);
}

const RETRY_MS = 10;
/** Session files are named 2^30 .. 2^31 - 1: above pid_max (at most 2^22), within a C int. */
const SESSION_BASE = 2 ** 30;
const SESSION_SPAN = 2 ** 30 - 1;

export class TempRoots {
  private static readonly byStateDir = new Map<string, TempRoots>();

  private rootsFd: number | undefined;
  private gcLockFd: number | undefined;
  private gcSocket: GcSocketClient | undefined;
  private queue: Promise<void> = Promise.resolve();

  /** `temproots/<name>`: the pid for a process's own; a number chosen on first use for a session's. */
  private file: string | undefined;

  private constructor(
    readonly layout: StoreLayout,
    /** A session's (see `session`), not the process's own. */
    private readonly isSession = false,
  ) {
    if (!isSession) this.file = layout.tempRootsFile();
  }

  /**
   * Temp roots of their own for one part of this process (a daemon connection), dropped by
   * `close` when it ends, as nix-daemon's go with the process serving a connection. The file
   * is named by a number no process has (nix's collector reads the names as pids), beyond
   * any pid and chosen so that no live file is taken over.
   */
  static session(layout: StoreLayout): TempRoots {
    return new TempRoots(layout, true);
  }

  /**
   * The temp roots of this process for `layout`'s state directory. There must be only one:
   * a second one would unlink and replace the first's file, and the GC would never see it.
   */
  static for(layout: StoreLayout): TempRoots {
    let roots = TempRoots.byStateDir.get(layout.stateDir);
    if (roots === undefined) {
      roots = new TempRoots(layout);
      TempRoots.byStateDir.set(layout.stateDir, roots);
    }
    return roots;
  }

  /** Set when a session has ended: later roots (of work it started that goes on) are the process's. */
  private ended = false;

  /** Protects `storePath` from the garbage collector for the rest of this process's (or session's) life. */
  add(storePath: string): Promise<void> {
    if (this.ended) return TempRoots.for(this.layout).add(storePath);
    const next = this.queue.then(() => this.addNow(storePath));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async openRootsFile(): Promise<number> {
    if (this.rootsFd !== undefined) return this.rootsFd;
    mkdirSync(this.layout.tempRootsDir, { recursive: true });
    if (this.isSession) return this.openSessionFile();
    const file = this.file!;
    for (;;) {
      // A file with our pid can only be left over from a dead process that had the same pid.
      if (existsSync(file)) unlinkSync(file);
      const fd = openLockFile(file, true);
      await waitLock(fd, 'exclusive');
      // The GC writes a byte into a file it found stale before unlinking it; if it did so
      // between our open and our lock, this inode is dead: start again.
      if (fstatSync(fd).size === 0) {
        this.rootsFd = fd;
        return fd;
      }
      closeSync(fd);
    }
  }

  /** A file under a free number above every pid (2^30 and up, below 2^31 as nix reads it as an int). */
  private openSessionFile(): number {
    let name = SESSION_BASE + Math.floor(Math.random() * SESSION_SPAN);
    for (let tries = 0; ; tries++) {
      if (tries > 1000) throw new LockError(`cannot find a free temporary roots file in '${this.layout.tempRootsDir}'`);
      const file = join(this.layout.tempRootsDir, String(name));
      const fd = openLockFile(file, true);
      if (!tryLock(fd, 'exclusive')) {
        // A live session of another process (or of this one) has that number.
        closeSync(fd);
        name = SESSION_BASE + ((name - SESSION_BASE + 1) % SESSION_SPAN);
        continue;
      }
      if (fstatSync(fd).size !== 0) {
        // Left by a process that died (or marked stale by a collector): not ours to reuse.
        unlinkSync(file);
        closeSync(fd);
        continue;
      }
      this.file = file;
      this.rootsFd = fd;
      return fd;
    }
  }

  private async tellCollector(storePath: string): Promise<boolean> {
    if (this.gcSocket === undefined) {
      try {
        this.gcSocket = await GcSocketClient.connect(this.layout.gcSocketPath);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // Refused: the GC just finished. Missing: it holds the lock but has not bound yet.
        // Reset: it accepted and hung up at once (finishing); the error can surface on connect.
        if (code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'ECONNRESET' || code === 'EPIPE') return false;
        throw new LockError(`cannot connect to the garbage collector at '${this.layout.gcSocketPath}': ${(e as Error).message}`);
      }
    }
    if (await this.gcSocket.send(storePath)) return true;
    this.gcSocket.close();
    this.gcSocket = undefined;
    return false;
  }

  private async addNow(storePath: string): Promise<void> {
    const rootsFd = await this.openRootsFile();
    this.gcLockFd ??= openGCLock(this.layout);
    for (;;) {
      // Holding the shared lock while appending keeps a GC from starting in between; if it
      // is taken, a GC is running and only its socket can still protect the path.
      const noGcRunning = tryLock(this.gcLockFd, 'shared');
      try {
        if (noGcRunning || (await this.tellCollector(storePath))) {
          writeSync(rootsFd, `${storePath}\0`);
          return;
        }
      } finally {
        if (noGcRunning) unlock(this.gcLockFd);
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }

  /** Drops this process's temp roots (normally the kernel does it when the process exits). */
  close(): void {
    this.gcSocket?.close();
    this.gcSocket = undefined;
    if (this.gcLockFd !== undefined) closeSync(this.gcLockFd);
    this.gcLockFd = undefined;
    if (this.rootsFd !== undefined) {
      unlinkSync(this.file!);
      closeSync(this.rootsFd);
    }
    this.rootsFd = undefined;
    if (this.isSession) this.ended = true;
    else TempRoots.byStateDir.delete(this.layout.stateDir);
  }
}

/**
 * The GC's side: the temp roots of every live process, by pid. A file that can be locked
 * belongs to a dead process; it is marked stale and removed, as Nix does.
 */
export function readTempRoots(layout: StoreLayout, onStale?: (file: string) => void): Map<number, string[]> {
  const roots = new Map<number, string[]>();
  let names: string[];
  try {
    names = readdirSync(layout.tempRootsDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return roots;
    throw e;
  }
  for (const name of names) {
    // Hidden files are kept by some package managers to keep the directory; not roots.
    if (name.startsWith('.')) continue;
    const file = join(layout.tempRootsDir, name);
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDWR);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    try {
      if (tryLock(fd, 'exclusive')) {
        onStale?.(file);
        unlinkSync(file);
        writeSync(fd, 'd');
        continue;
      }
      const text = readFileSync(fd, 'latin1');
      const paths = text.split('\0');
      paths.pop(); // after the last NUL: empty, or a root still being written
      roots.set(Number(name), paths);
    } finally {
      closeSync(fd);
    }
  }
  return roots;
}
