/**
 * Temporary directories inside the physical store directory, where new content is
 * unpacked before it is renamed into place (a rename within one file system is atomic).
 * Their names are not store path names, so no garbage collector, ours or Nix's, takes
 * them for store paths; a crashed process leaves only such garbage, never a valid path.
 */
import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { StoreLayout } from './layout.js';
import { deletePathSync } from './deletePath.js';

export class TempDir {
  private constructor(readonly path: string) {}

  static create(layout: StoreLayout, purpose: string): TempDir {
    const path = join(layout.realStoreDir, `.tsnix-${purpose}-${process.pid}-${randomBytes(6).toString('hex')}`);
    // 0700: nobody else may enter while we fill it (no swapping in of symlinks by others).
    mkdirSync(path, { mode: 0o700 });
    return new TempDir(path);
  }

  /** A name inside the directory for the content being unpacked. */
  get contentPath(): string {
    return join(this.path, 'content');
  }

  remove(): void {
    deletePathSync(this.path);
  }
}
