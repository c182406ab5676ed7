/**
 * Where a store lives on disk: the logical store directory that appears in every store path
 * (`/nix/store`) and the physical root it is kept under (`--store ROOT`), the way Nix's
 * chroot stores work. Everything physical is derived here so no other file joins paths by hand.
 */
import { mkdir, chmod, chown, symlink, lstat, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { InvalidPathError } from '../format/errors.js';
import { DEFAULT_STORE_DIR, toStorePath } from '../format/storePath.js';

export interface StoreLayoutOptions {
  /** Physical root (`--store ROOT`); default `/`. */
  root?: string;
  /** Logical store directory; default `/nix/store`. */
  storeDir?: string;
  /** State directory; default `ROOT/nix/var/nix`. */
  stateDir?: string;
  /** Build logs; default `ROOT/nix/var/log/nix`. */
  logDir?: string;
}

export class StoreLayout {
  readonly root: string;
  readonly storeDir: string;
  readonly realStoreDir: string;
  readonly stateDir: string;
  readonly logDir: string;
  readonly dbDir: string;
  readonly dbPath: string;
  readonly schemaPath: string;
  readonly bigLockPath: string;
  readonly reservedPath: string;
  readonly tempRootsDir: string;
  readonly gcRootsDir: string;
  readonly profilesDir: string;
  readonly gcLockPath: string;
  readonly gcSocketPath: string;
  readonly daemonSocketPath: string;
  readonly linksDir: string;

  constructor(options: StoreLayoutOptions = {}) {
    this.root = resolve(options.root ?? '/');
    this.storeDir = options.storeDir ?? DEFAULT_STORE_DIR;
    if (!isAbsolute(this.storeDir) || this.storeDir.endsWith('/')) {
      throw new InvalidPathError(`store directory '${this.storeDir}' must be an absolute path without a trailing slash`);
    }
    this.realStoreDir = join(this.root, this.storeDir);
    this.stateDir = options.stateDir ?? join(this.root, 'nix/var/nix');
    this.logDir = options.logDir ?? join(this.root, 'nix/var/log/nix');
    this.dbDir = join(this.stateDir, 'db');
    this.dbPath = join(this.dbDir, 'db.sqlite');
    this.schemaPath = join(this.dbDir, 'schema');
    this.bigLockPath = join(this.dbDir, 'big-lock');
    this.reservedPath = join(this.dbDir, 'reserved');
    this.tempRootsDir = join(this.stateDir, 'temproots');
    this.gcRootsDir = join(this.stateDir, 'gcroots');
    this.profilesDir = join(this.stateDir, 'profiles');
    this.gcLockPath = join(this.stateDir, 'gc.lock');
    this.gcSocketPath = join(this.stateDir, 'gc-socket/socket');
    this.daemonSocketPath = join(this.stateDir, 'daemon-socket/socket');
    this.linksDir = join(this.realStoreDir, '.links');
  }

  /** The physical location of a store path or of a file inside one. */
  toReal(storePath: string): string {
    toStorePath(storePath, this.storeDir);
    return this.realStoreDir + storePath.slice(this.storeDir.length);
  }

  /** `P.lock` beside the physical path, Nix's per-path lock file. */
  lockFileFor(storePath: string): string {
    return this.toReal(storePath) + '.lock';
  }

  tempRootsFile(pid: number = process.pid): string {
    return join(this.tempRootsDir, String(pid));
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/**
 * Creates the directories Nix creates when it opens a local store. A store directory created
 * here gets mode 1775 (sticky: users in the build group may add but not remove others' paths).
 * With `buildGroupId` (root only), the store is made `root:<group>` 1775 as Nix does in a
 * multi-user install.
 */
export async function ensureStoreDirs(layout: StoreLayout, buildGroupId?: number): Promise<void> {
  if (!(await exists(layout.realStoreDir))) {
    await mkdir(layout.realStoreDir, { recursive: true });
    await chmod(layout.realStoreDir, 0o1775);
  }
  if (buildGroupId !== undefined && process.getuid?.() === 0) {
    const st = await stat(layout.realStoreDir);
    if (st.uid !== 0 || st.gid !== buildGroupId || (st.mode & 0o7777) !== 0o1775) {
      await chown(layout.realStoreDir, 0, buildGroupId);
      await chmod(layout.realStoreDir, 0o1775);
    }
  }
  for (const dir of [layout.profilesDir, layout.tempRootsDir, layout.dbDir]) await mkdir(dir, { recursive: true });
  if (!(await exists(layout.gcRootsDir))) {
    await mkdir(layout.gcRootsDir, { recursive: true });
    await symlink(layout.profilesDir, join(layout.gcRootsDir, 'profiles'));
  }
  for (const dir of [join(layout.profilesDir, 'per-user'), join(layout.gcRootsDir, 'per-user')]) {
    await mkdir(dir, { recursive: true });
    // Only when wrong: a user who does not own an existing store may not chmod it.
    if (((await stat(dir)).mode & 0o7777) !== 0o755) await chmod(dir, 0o755);
  }
}
