/**
 * Kept sandboxes: build directories with a store view (helper-c/storeview.c), kept on the
 * host between builds, one per build running at a time. A build whose inputs the previous
 * build in the same directory mostly had (a chain: each build's inputs are the last one's
 * plus its output) makes only the new hard links and mount points of its store directory
 * instead of all of them, and the directory itself (the build directory, the root's mount
 * point) is not made and deleted each time.
 *
 *   <top>/        0700, root's (mkdtemp)
 *   <top>/store   the view: the sandbox's store directory, where outputs are made
 *   <top>/build   0700, the build user's: /build, made for each build and removed after it
 *   <top>/root    made by the helper for each build, removed after it
 *   <top>/trash-N what is left to delete after a build (in the background)
 *
 * A kept sandbox is handed out again only after a build whose helper reported the builder's
 * end, which it does once the sandbox's PID 1 was reaped; the kernel lets PID 1 exit only
 * when every process of the build is gone, so nothing of an earlier build can still write
 * there. After any other ending (a timeout, a cancellation, a helper that failed) it is
 * deleted instead. Free ones are deleted when no build has used them for a while and when
 * the process exits: their hard links keep store files' inodes alive after a garbage
 * collection deletes the paths.
 */
import { chownSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { deletePathSync } from '../../store/deletePath.js';
import type { BuildDirs } from './buildDir.js';

/** Free sandboxes unused this long are deleted. */
const IDLE_MS = 10_000;

export interface KeptDirs extends BuildDirs {
  /** The store view: the sandbox's store directory on the host. */
  store: string;
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

class KeptSandboxes {
  private readonly free: string[] = [];
  private readonly inUse = new Set<string>();
  private idleTimer: NodeJS.Timeout | undefined;
  private trashCount = 0;

  constructor(private readonly parent: string) {}

  /** A kept sandbox for a build as `owner`, its build directory empty and owned by them. */
  acquire(owner: { uid: number; gid: number }): KeptDirs {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    for (;;) {
      const top = this.free.pop() ?? this.make();
      const dirs = { top, build: join(top, 'build'), root: join(top, 'root'), store: join(top, 'store') };
      this.inUse.add(top);
      try {
        // A new /build for every build: one kept across builds would keep what a builder can
        // set on a directory it owns (its mode, ACLs, inode flags) for the next.
        mkdirSync(dirs.build, { mode: 0o700 });
        chownSync(dirs.build, owner.uid, owner.gid);
        return dirs;
      } catch (error) {
        this.inUse.delete(top);
        // Deleted meanwhile (someone emptied the temporary directory): forget it.
        if (errorCode(error) === 'ENOENT') continue;
        deleteQuietly(top);
        // Not left as it should be: another one.
        if (errorCode(error) === 'EEXIST') continue;
        throw error;
      }
    }
  }

  /**
   * Ends a build in `dirs`. `reusable`: it ended with every one of its processes gone (see
   * above); then what it left is cleared (at once when it is an empty directory or two,
   * else moved to a trash directory for `remove`) and the sandbox is free again. Otherwise the
   * whole sandbox goes to `remove`.
   */
  release(dirs: KeptDirs, reusable: boolean, remove: (path: string) => void): void {
    if (!this.inUse.delete(dirs.top)) return;
    let clean = reusable;
    if (clean) {
      try {
        this.clear(dirs, remove);
      } catch {
        clean = false;
      }
    }
    if (clean) this.free.push(dirs.top);
    else remove(dirs.top);
    if (this.inUse.size === 0 && this.free.length > 0) {
      this.idleTimer = setTimeout(() => this.deleteFree(), IDLE_MS);
      this.idleTimer.unref();
    }
  }

  private make(): string {
    mkdirSync(this.parent, { recursive: true });
    return mkdtempSync(join(this.parent, 'tsnix-sandbox-'));
  }

  /** Moves `path` (inside the sandbox) to a trash directory of its own, for `remove`. */
  discard(dirs: KeptDirs, path: string, remove: (path: string) => void): void {
    const trash = join(dirs.top, `trash-${this.trashCount++}`);
    renameSync(path, trash);
    remove(trash);
  }

  private clear(dirs: KeptDirs, remove: (path: string) => void): void {
    const toTrash = (path: string): void => this.discard(dirs, path, remove);
    for (const name of readdirSync(dirs.top)) {
      if (name === 'store' || name.startsWith('trash-')) continue;
      const path = join(dirs.top, name);
      if (name === 'build') {
        if (readdirSync(path).length > 0) toTrash(path);
        else rmdirSync(path);
      } else if (name === 'root' && onlyEmptyTmp(path)) {
        // The usual case: the root's mount point with the sandbox's /tmp, both empty.
        rmdirSync(join(path, 'tmp'));
        rmdirSync(path);
      } else {
        toTrash(path);
      }
    }
  }

  deleteFree(): void {
    for (const top of this.free.splice(0)) deleteQuietly(top);
  }

  /** At exit: those in use too (their builds are being killed with the process). */
  deleteAll(): void {
    this.deleteFree();
    for (const top of this.inUse) deleteQuietly(top);
    this.inUse.clear();
  }
}

function onlyEmptyTmp(root: string): boolean {
  const names = readdirSync(root);
  return names.length === 1 && names[0] === 'tmp' && readdirSync(join(root, 'tmp')).length === 0;
}

function deleteQuietly(top: string): void {
  try {
    deletePathSync(top);
  } catch {
    // Left in the temporary directory it costs only its links; nothing depends on its removal.
  }
}

const pools = new Map<string, KeptSandboxes>();
let exitHookInstalled = false;

/** The kept sandboxes made in `parent` (where build directories go). */
export function keptSandboxes(parent: string): KeptSandboxes {
  let pool = pools.get(parent);
  if (!pool) {
    pool = new KeptSandboxes(parent);
    pools.set(parent, pool);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => {
        for (const p of pools.values()) p.deleteAll();
      });
    }
  }
  return pool;
}
