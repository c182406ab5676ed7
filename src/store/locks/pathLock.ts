/**
 * Per-path locks, following Nix's PathLocks step for step so that tsnix and nix never build or
 * substitute the same output at once: `P.lock` beside the physical path, an exclusive flock,
 * a stale check, and on release a byte written, the file unlinked and the lock dropped.
 */
import { closeSync, fstatSync, unlinkSync, writeSync } from 'node:fs';
import type { StoreLayout } from '../layout.js';
import { openLockFile, tryLock, waitLock } from './flock.js';

export interface LockPathsOptions {
  /** Wait for locks held elsewhere (default true); otherwise give up and hold nothing. */
  wait?: boolean;
  /** Told `waiting for lock on '…'` when a lock is held by someone else and we wait. */
  onWait?: (message: string) => void;
  /** How long contention must last before onWait is told (default 0: at once, as Nix). */
  waitMessageDelayMs?: number;
  /** Delete the lock files on release (default true, as Nix's goals do). */
  deleteOnRelease?: boolean;
  signal?: AbortSignal;
}

interface HeldLock {
  fd: number;
  lockPath: string;
}

/**
 * Takes the lock on `lockPath`, retrying while the file we locked turns out to be stale: its
 * previous holder unlinked it, so a newcomer may already hold a fresh file under that name.
 * Returns undefined when `wait` is false and the lock is held elsewhere.
 */
async function lockOne(lockPath: string, options: LockPathsOptions): Promise<HeldLock | undefined> {
  for (;;) {
    const fd = openLockFile(lockPath, true);
    try {
      if (!tryLock(fd, 'exclusive')) {
        if (options.wait === false) {
          closeSync(fd);
          return undefined;
        }
        const tell = options.onWait;
        const timer = tell && setTimeout(() => tell(`waiting for lock on '${lockPath}'`), options.waitMessageDelayMs ?? 0);
        try {
          await waitLock(fd, 'exclusive', options.signal);
        } finally {
          if (timer) clearTimeout(timer);
        }
      }
      if (fstatSync(fd).size === 0) return { fd, lockPath };
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    closeSync(fd);
  }
}

export class PathLocks {
  private held: HeldLock[] = [];

  private constructor(private readonly deleteOnRelease: boolean) {}

  /**
   * Locks the physical `paths` (their `.lock` siblings) in sorted order, so that two lockers of
   * overlapping sets cannot deadlock. Resolves to undefined only when `wait` is false and
   * some lock is held elsewhere; then no lock is kept. After this resolves the caller must
   * check again whether the paths became valid meanwhile.
   */
  static async lockRealPaths(paths: Iterable<string>, options: LockPathsOptions = {}): Promise<PathLocks | undefined> {
    const locks = new PathLocks(options.deleteOnRelease ?? true);
    try {
      for (const path of [...new Set(paths)].sort()) {
        const held = await lockOne(path + '.lock', options);
        if (held === undefined) {
          locks.release();
          return undefined;
        }
        locks.held.push(held);
      }
    } catch (e) {
      locks.release();
      throw e;
    }
    return locks;
  }

  /** Locks store paths (logical, e.g. `/nix/store/…-foo`) of `layout`; waits. */
  static async lock(layout: StoreLayout, storePaths: Iterable<string>, options: Omit<LockPathsOptions, 'wait'> = {}): Promise<PathLocks> {
    const real = [...storePaths].map((p) => layout.toReal(p));
    return (await PathLocks.lockRealPaths(real, { ...options, wait: true }))!;
  }

  /** Locks store paths of `layout` only if none is held elsewhere; otherwise undefined. */
  static async tryLock(layout: StoreLayout, storePaths: Iterable<string>, options: Omit<LockPathsOptions, 'wait'> = {}): Promise<PathLocks | undefined> {
    return PathLocks.lockRealPaths([...storePaths].map((p) => layout.toReal(p)), { ...options, wait: false });
  }

  /** The lock files held, in the order they were taken. */
  get lockFiles(): string[] {
    return this.held.map((h) => h.lockPath);
  }

  /**
   * Releases every lock. Deleting first, while still holding the lock: a process already
   * waiting on this file will find the byte and know to start again on a fresh file, and
   * one that arrives later creates a new file. Removing the file is an optimisation, so
   * failing to unlink is not an error.
   */
  release(): void {
    for (const { fd, lockPath } of this.held) {
      if (this.deleteOnRelease) {
        try {
          unlinkSync(lockPath);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') process.emitWarning(`cannot remove lock file '${lockPath}': ${(e as Error).message}`);
        }
        writeSync(fd, 'd');
      }
      closeSync(fd);
    }
    this.held = [];
  }
}
