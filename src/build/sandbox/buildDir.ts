import { chmodSync, chownSync, closeSync, constants, fchownSync, mkdirSync, mkdtempSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { deletePathSync } from '../../store/deletePath.js';

/**
 * One build's directories on the host:
 *   <top>/        0700 (0711 without sandbox), owned by the driver: no other user can enter or plant anything
 *   <top>/build   0700, owned by the build user: the build directory ($NIX_BUILD_TOP)
 *   <top>/root    created by the helper: the sandbox's "/", outputs appear under its store dir
 */
export interface BuildDirs {
  top: string;
  build: string;
  root: string;
}

export function createBuildDirs(parent: string, drvName: string, owner: { uid: number; gid: number }, sandboxed: boolean): BuildDirs {
  mkdirSync(parent, { recursive: true });
  const top = mkdtempSync(join(parent, `nix-build-${drvName}-`));
  // Without a sandbox the builder reaches its directory through <top>, so it may pass but not list.
  chmodSync(top, sandboxed ? 0o700 : 0o711);
  const build = join(top, 'build');
  mkdirSync(build, { mode: 0o700 });
  chownSync(build, owner.uid, owner.gid);
  return { top, build, root: join(top, 'root') };
}

/** Writes a file into the build directory before the build; refuses to follow a symlink. */
export function writeBuildFile(buildDir: string, name: string, content: string, owner: { uid: number; gid: number }): void {
  const path = join(buildDir, name);
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    writeSync(fd, content);
    fchownSync(fd, owner.uid, owner.gid);
  } finally {
    closeSync(fd);
  }
}

/**
 * Deletes a tree the builder wrote, never following a symlink it planted: every entry is
 * lstat'ed and symlinks are unlinked as links. Directories are made writable first, as a
 * builder may leave them read-only.
 */
export function removeTree(path: string): void {
  // Descriptor-relative and never following a symlink: see deletePathSync.
  deletePathSync(path);
}
