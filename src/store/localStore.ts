/**
 * A local store: its layout, its database and this process's temp roots. The
 * operations (add, import, export, verify) live in their own files and take a LocalStore.
 */
import { openStoreDatabase, type StoreDatabase } from './database.js';
import { deletingHere, type TreeDeleting } from './deletePath.js';
import { optimisingHere, type PathOptimising } from './optimise.js';
import { StoreLayout } from './layout.js';
import { TempRoots } from './locks/tempRoots.js';
import { hashingHere, type PathHashing } from './pathHashing.js';
import type { Settings } from './settings.js';

export interface OpenStoreOptions {
  /** Physical root (`--store ROOT`); default `/`. */
  root?: string;
  /** The logical store directory, state and log directories (Nix's `store`, `state`, `log` parameters). */
  storeDir?: string;
  stateDir?: string;
  logDir?: string;
  settings: Settings;
  /** Told about waits for locks. */
  onWait?: (message: string) => void;
  /** Who reads paths as NARs (the pool's worker threads, say); default: this thread. */
  hashing?: PathHashing;
  /** Who deletes garbage (the pool's worker threads, say); default: this thread. */
  deleting?: TreeDeleting;
  /** Who links identical files together (the pool's worker threads, say); default: this thread. */
  optimising?: PathOptimising;
}

export class LocalStore {
  private roots: TempRoots | undefined;

  private constructor(
    readonly layout: StoreLayout,
    readonly db: StoreDatabase,
    readonly settings: Settings,
    readonly onWait: ((message: string) => void) | undefined,
    readonly hashing: PathHashing,
    readonly deleting: TreeDeleting,
    readonly optimising: PathOptimising,
  ) {}

  static async open(options: OpenStoreOptions): Promise<LocalStore> {
    const layout = new StoreLayout({ root: options.root, storeDir: options.storeDir, stateDir: options.stateDir, logDir: options.logDir });
    const db = await openStoreDatabase(layout, {
      fsyncMetadata: options.settings.bool('fsync-metadata'),
      useWal: options.settings.bool('use-sqlite-wal'),
      onWait: options.onWait,
    });
    return new LocalStore(layout, db, options.settings, options.onWait, options.hashing ?? hashingHere, options.deleting ?? deletingHere, options.optimising ?? optimisingHere);
  }

  get storeDir(): string {
    return this.layout.storeDir;
  }

  get useCaseHack(): boolean {
    return this.settings.bool('use-case-hack');
  }

  /** Keeps `path` from being collected for as long as this process lives. */
  async addTempRoot(path: string): Promise<void> {
    this.roots ??= TempRoots.for(this.layout);
    await this.roots.add(path);
  }

  /**
   * This store with its temp roots kept in `roots` instead of the process's own (a daemon
   * connection's, dropped when it ends): everything else is this store's.
   */
  withTempRoots(roots: TempRoots): LocalStore {
    const view = Object.create(this) as LocalStore;
    view.addTempRoot = (path) => roots.add(path);
    return view;
  }

  async close(): Promise<void> {
    this.roots?.close();
    this.roots = undefined;
    this.db.close();
  }
}
