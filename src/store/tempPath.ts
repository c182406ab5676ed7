/**
 * Temporary directories inside the physical store directory, where new content is
 * unpacked before it is renamed into place (a rename within one file system is atomic).
 *
 * A garbage collector, ours or Nix's, deletes whatever in the store directory is not a
 * valid path, these directories included. So each holds a shared lock on the GC lock from
 * creation to removal: a collection cannot start meanwhile (it waits for the exclusive
 * lock), and one that is running delays the creation until it is done.
 *
 * A process that dies leaves its directories behind as garbage, never as valid paths; the
 * collector, and `--verify`, remove those of dead processes (the pid is in the name).
 */
import { closeSync, mkdirSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { StoreLayout } from './layout.js';
import { deletePathSync } from './deletePath.js';
import { openGCLock } from './locks/tempRoots.js';
import { tryLock, waitLock } from './locks/flock.js';

const PREFIX = '.tsnix-';
const live = new Set<TempDir>();

/** One shared GC lock per store for all of this process's temporary directories, counted. */
interface SharedGcLock {
  fd: number;
  users: number;
  ready: Promise<void>;
}
const gcLocks = new Map<string, SharedGcLock>();

async function holdGcLock(layout: StoreLayout, onWait?: (message: string) => void): Promise<void> {
  let lock = gcLocks.get(layout.stateDir);
  if (lock === undefined) {
    const fd = openGCLock(layout);
    const ready = tryLock(fd, 'shared')
      ? Promise.resolve()
      : (onWait?.('waiting for the garbage collector to finish...'), waitLock(fd, 'shared'));
    lock = { fd, users: 0, ready };
    gcLocks.set(layout.stateDir, lock);
  }
  lock.users++;
  try {
    await lock.ready;
  } catch (e) {
    releaseGcLock(layout.stateDir);
    throw e;
  }
}

function releaseGcLock(stateDir: string): void {
  const lock = gcLocks.get(stateDir);
  if (lock === undefined || --lock.users > 0) return;
  gcLocks.delete(stateDir);
  closeSync(lock.fd);
}

/** Where one path's new content is unpacked, and how it is let go of (a TempDir, or a part of one). */
export interface TempContent {
  readonly contentPath: string;
  /** Deletes what is left of the content, now. */
  remove(): void;
  /** For content that was committed (moved into the store): what is left goes off the main thread. */
  removeInBackground(): void;
}

/**
 * A name for each temporary directory: the pid (stale directories are found by it), then a
 * random tag of this process's and a counter. (A random name each time cost ~7 us of the main
 * thread per directory, in a daemon importing ten thousand paths.)
 */
const processTag = randomBytes(6).toString('hex');
let made = 0;

export class TempDir implements TempContent {
  private removed = false;
  private parts = 0;

  private constructor(
    readonly path: string,
    private readonly stateDir: string,
  ) {}

  static async create(layout: StoreLayout, purpose: string, onWait?: (message: string) => void): Promise<TempDir> {
    await holdGcLock(layout, onWait);
    try {
      const path = join(layout.realStoreDir, `${PREFIX}${purpose}-${process.pid}-${processTag}${(made++).toString(36)}`);
      // 0700: nobody else may enter while we fill it (no swapping in of symlinks by others).
      mkdirSync(path, { mode: 0o700 });
      const temp = new TempDir(path, layout.stateDir);
      live.add(temp);
      return temp;
    } catch (e) {
      releaseGcLock(layout.stateDir);
      throw e;
    }
  }

  /** A name inside the directory for the content being unpacked. */
  get contentPath(): string {
    return join(this.path, 'content');
  }

  /**
   * A place of its own in this directory for one of many paths imported together: one
   * directory (one mkdir, one removal, one hold of the GC lock) for all of them, not one
   * each. Removing a part deletes only its content; the directory stays until `remove`.
   */
  part(): TempContent {
    const contentPath = join(this.path, `part-${this.parts++}`);
    let gone = false;
    return {
      contentPath,
      remove: () => {
        if (gone) return;
        gone = true;
        deletePathSync(contentPath);
      },
      // Moved into the store by the commit: nothing is left (the directory goes as a whole).
      removeInBackground: () => {
        gone = true;
      },
    };
  }

  remove(): void {
    if (this.removed) return;
    this.removed = true;
    live.delete(this);
    try {
      deletePathSync(this.path);
    } finally {
      releaseGcLock(this.stateDir);
    }
  }

  /**
   * For a directory whose content has been committed: removed on the thread pool, not the
   * main thread (an rmdir costs ~0.3 ms on ext4; a substitution of a thousand paths waited
   * 0.35 s for them). Left behind by a process that dies meanwhile, it is stale garbage the
   * next collection or --verify removes (the pid in its name is dead).
   */
  removeInBackground(): void {
    if (this.removed) return;
    this.removed = true;
    live.delete(this);
    rm(this.path, { recursive: true, force: true })
      .catch(() => {
        // Nothing to do: what remains is garbage for the next collection.
      })
      .finally(() => releaseGcLock(this.stateDir));
  }
}

/** Removes every temporary directory of this process: for a command interrupted by a signal. */
export function removeLiveTempDirs(): void {
  for (const temp of [...live]) temp.remove();
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes temporary directories left by processes that are gone; returns their names. */
export function removeStaleTempDirs(layout: StoreLayout): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(layout.realStoreDir)) {
    if (!name.startsWith(PREFIX)) continue;
    const pid = Number(/^\.tsnix-[a-z]+-(\d+)-/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || processAlive(pid)) continue;
    deletePathSync(join(layout.realStoreDir, name));
    removed.push(name);
  }
  return removed;
}
