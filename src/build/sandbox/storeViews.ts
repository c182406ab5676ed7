/**
 * Store views (helper-c/storeview.c): sandbox store directories kept on the host between
 * builds, one per build running at a time, so that a build whose inputs the previous build
 * in the same view mostly had (a chain: each build's inputs are the last one's plus its
 * output) makes only the new hard links and mount points instead of all of them, and leaves
 * nothing to unlink afterwards.
 *
 * A view is handed out again only after a build whose helper waited for the sandbox's PID 1,
 * which the kernel lets exit only once every process of the build is gone: nothing of an
 * earlier build can still write there. After any other ending (a timeout, a cancellation, a
 * helper that failed) the view is deleted instead. Views are deleted when no build has used
 * them for a while and when the process exits: their hard links keep store files' inodes
 * alive after a garbage collection deletes the paths.
 */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { deletePathSync } from '../../store/deletePath.js';

/** Free views older than this (no build started meanwhile) are deleted. */
const IDLE_MS = 10_000;

class StoreViewPool {
  private readonly free: string[] = [];
  private readonly inUse = new Set<string>();
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly parent: string) {}

  /** A view's top directory (private to this process: 0700, root's); the store directory is `store` inside. */
  acquire(): string {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const top = this.free.pop() ?? mkdtempSync(join(this.parent, 'tsnix-view-'));
    this.inUse.add(top);
    return top;
  }

  /** `reusable`: the build ended with every one of its processes gone (see above). */
  release(top: string, reusable: boolean): void {
    if (!this.inUse.delete(top)) return;
    if (reusable) this.free.push(top);
    else deleteQuietly(top);
    if (this.inUse.size === 0 && this.free.length > 0) {
      this.idleTimer = setTimeout(() => this.deleteFree(), IDLE_MS);
      this.idleTimer.unref();
    }
  }

  deleteFree(): void {
    for (const top of this.free.splice(0)) deleteQuietly(top);
  }

  /** At exit: views in use too (their builds are being killed with the process). */
  deleteAll(): void {
    this.deleteFree();
    for (const top of this.inUse) deleteQuietly(top);
    this.inUse.clear();
  }
}

function deleteQuietly(top: string): void {
  try {
    deletePathSync(top);
  } catch {
    // A view left in the temp directory costs only its links; nothing depends on its removal.
  }
}

const pools = new Map<string, StoreViewPool>();
let exitHookInstalled = false;

/** The pool of views made in `parent` (the build directories' parent: the same file system). */
export function storeViews(parent: string): StoreViewPool {
  let pool = pools.get(parent);
  if (!pool) {
    pool = new StoreViewPool(parent);
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

/** The store directory of the view whose top directory is `top`. */
export function viewStoreDir(top: string): string {
  return join(top, 'store');
}
