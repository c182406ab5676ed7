/**
 * `db/big-lock`: every store handle holds a shared flock on it for its whole life, so that a
 * schema upgrade (which takes it exclusively) never runs under a live handle.
 */
import { closeSync } from 'node:fs';
import type { StoreLayout } from '../layout.js';
import { openLockFile, tryLock, waitLock, type LockMode } from './flock.js';

export interface BigLock {
  readonly fd: number;
  release(): void;
}

export async function acquireBigLock(
  layout: StoreLayout,
  mode: LockMode = 'shared',
  onWait?: (message: string) => void,
): Promise<BigLock> {
  const fd = openLockFile(layout.bigLockPath, true);
  try {
    if (!tryLock(fd, mode)) {
      onWait?.(mode === 'shared' ? 'waiting for the big Nix store lock...' : 'waiting for exclusive access to the Nix store...');
      await waitLock(fd, mode);
    }
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  let open = true;
  return {
    fd,
    release(): void {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}
