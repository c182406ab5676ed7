/**
 * flock(2) on file descriptors. Locks belong to the open file description, so the kernel drops
 * them when the process dies, and two descriptors of one process exclude each other like two
 * processes do. Nix uses the same calls, which is what lets tsnix and nix exclude each other.
 */
import { openSync, constants } from 'node:fs';
import fsExt from 'fs-ext';
import { LockError } from '../dbErrors.js';

export type LockMode = 'shared' | 'exclusive';

/**
 * A blocking flock waits in one of libuv's few thread-pool threads. If many waits piled up
 * there, the pool would have no thread left for file I/O, and a holder in this very process
 * could never finish its work and release. So only a couple of waits use the pool; the rest
 * poll with non-blocking attempts.
 */
const MAX_POOL_WAITS = 2;
const POLL_MIN_MS = 10;
const POLL_MAX_MS = 500;
let poolWaits = 0;

function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/** Opens (and with `create`, creates with mode 0600) a lock file, as Nix's openLockFile does. */
export function openLockFile(path: string, create: true): number;
export function openLockFile(path: string, create: boolean): number | undefined;
export function openLockFile(path: string, create: boolean): number | undefined {
  try {
    return openSync(path, constants.O_RDWR | (create ? constants.O_CREAT : 0), 0o600);
  } catch (e) {
    if (!create && errnoOf(e) === 'ENOENT') return undefined;
    throw new LockError(`opening lock file '${path}': ${(e as Error).message}`);
  }
}

/** One non-blocking attempt; false when another descriptor holds a conflicting lock. */
export function tryLock(fd: number, mode: LockMode): boolean {
  try {
    fsExt.flockSync(fd, mode === 'shared' ? 'shnb' : 'exnb');
    return true;
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return false;
    throw new LockError(`acquiring lock: ${(e as Error).message}`);
  }
}

/** Releases whatever lock this descriptor holds (never blocks). */
export function unlock(fd: number): void {
  try {
    fsExt.flockSync(fd, 'un');
  } catch (e) {
    throw new LockError(`releasing lock: ${(e as Error).message}`);
  }
}

function poolFlock(fd: number, mode: LockMode): Promise<void> {
  poolWaits++;
  return new Promise<void>((resolve, reject) => {
    fsExt.flock(fd, mode === 'shared' ? 'sh' : 'ex', (err) => {
      poolWaits--;
      if (err) reject(new LockError(`acquiring lock: ${err.message}`));
      else resolve();
    });
  });
}

async function pollFlock(fd: number, mode: LockMode, signal?: AbortSignal): Promise<void> {
  let delay = POLL_MIN_MS;
  for (;;) {
    signal?.throwIfAborted();
    if (tryLock(fd, mode)) return;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, POLL_MAX_MS);
  }
}

/**
 * Waits until the lock is granted without blocking the event loop. With a `signal` the wait
 * polls, because a wait inside the thread pool cannot be interrupted.
 */
export async function waitLock(fd: number, mode: LockMode, signal?: AbortSignal): Promise<void> {
  if (tryLock(fd, mode)) return;
  if (signal === undefined && poolWaits < MAX_POOL_WAITS) return poolFlock(fd, mode);
  return pollFlock(fd, mode, signal);
}
