/**
 * The garbage collector, following Nix's protocol so that tsnix and nix can share a store:
 * the exclusive GC lock, the roots socket for temp roots announced meanwhile, temp roots
 * protecting by hash part (so `P.lock` goes with `P`), and everything in the store directory
 * that is neither valid-and-live nor protected is garbage.
 *
 * Deletion is in steps, each safe to interrupt with SIGKILL: the paths of a step are made
 * invalid in one transaction (referrers before their references, so no valid path ever
 * refers to a missing one), then renamed into `STORE/trash` and deleted from there (on the
 * pool's threads, while the next step's transaction runs). A killed collection leaves only
 * invalid paths and trash, which the next one removes.
 */
import { closeSync, lstatSync, mkdirSync, readdirSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { parseBaseName, parseStorePath } from '../format/storePath.js';
import { InvalidPathError } from '../format/errors.js';
import { topoSort } from './closure.js';
import { deletePathSync, deleteTreesSync, moveOutOfDirectory } from './deletePath.js';
import { errnoError, fileIo } from './fileIo.js';
import { ensureOwnDirectory } from './ownDirectory.js';
import type { LocalStore } from './localStore.js';
import { hashPartOf, LiveGraph } from './liveness.js';
import { tryLock, waitLock } from './locks/flock.js';
import { GcSocketServer } from './locks/gcSocketServer.js';
import { openGCLock, readTempRoots } from './locks/tempRoots.js';
import { findLinkRoots, findRuntimeRoots, type Roots } from './roots.js';
import { queryReferences } from './references.js';
import { isValidPath } from './queryPathInfo.js';

/** Where renameEntries tells which name it failed on. */
const failedAt = new Float64Array(1);

export type GcAction = 'delete-dead' | 'return-live' | 'return-dead' | 'delete-specific';

export interface GcOptions {
  action: GcAction;
  /** For `delete-specific`. */
  pathsToDelete?: string[];
  /** `--ignore-liveness`: no permanent or runtime roots (temp roots still count). */
  ignoreLiveness?: boolean;
  /** Stop once this many bytes are freed (`--max-freed`); default no limit. */
  maxFreed?: number;
  /** Told nix's messages at its default verbosity ("deleting '…'" and the like). */
  info?: (message: string) => void;
  /** Filled as the collection goes, so that a caller knows what was deleted even when it fails. */
  results?: GcResults;
  /** Tests: called once the roots are known, before anything is deleted. */
  beforeDeleting?: () => Promise<void>;
}

export interface GcResults {
  /** Deleted paths (for the delete actions), or the live or dead ones, sorted. */
  paths: string[];
  bytesFreed: number;
}

export class PathAliveError extends Error {
  override name = 'PathAliveError';
  constructor(readonly path: string) {
    super(`Cannot delete path '${path}' since it is still alive. To find out why, use: nix-store --query --roots`);
  }
}

/** Thrown inside the collector when `maxFreed` is reached. */
class LimitReached extends Error {}

const TRASH = 'trash';
/** Paths per step: one transaction, then renames and deletions, then the socket is answered. */
const STEP = 256;
/** Deletions handed over and not yet done: enough to keep two threads busy. */
const MAX_DELETING = 4;

function toMiB(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(2);
}

/** nix-store's closing line for a deleting collection. */
export function freedLine(results: GcResults): string {
  return `${results.paths.length} store paths deleted, ${toMiB(results.bytesFreed)} MiB freed`;
}

class Collector {
  readonly graph: LiveGraph;
  /** Valid paths that must stay: the roots' closure and what new temp roots reach. */
  readonly alive = new Set<string>();
  /** Hash parts of temp roots: protected whether valid or not (a build's output, its lock). */
  readonly tempHashes = new Set<string>();
  readonly results: GcResults;
  private readonly info: (message: string) => void;
  private readonly trashDir: string;
  private trashParts = 0;

  constructor(
    private readonly store: LocalStore,
    private readonly options: GcOptions,
  ) {
    const ignore = options.action === 'delete-specific' && options.ignoreLiveness === true;
    // `--delete --ignore-liveness` with the keep settings on would follow them into deleting
    // outputs or derivers of what was named: nix turns them off there, so do we.
    this.graph = new LiveGraph(store.db, {
      keepOutputs: !ignore && store.settings.bool('keep-outputs'),
      keepDerivations: !ignore && store.settings.bool('keep-derivations'),
    });
    this.info = options.info ?? (() => undefined);
    this.results = options.results ?? { paths: [], bytesFreed: 0 };
    this.trashDir = `${store.layout.realStoreDir}/${TRASH}`;
  }

  /** A root announced on the socket, or found in a temp roots file. */
  protect(path: string): boolean {
    let hashPart: string;
    try {
      if (!path.startsWith(`${this.store.storeDir}/`)) return false;
      hashPart = parseBaseName(path.slice(this.store.storeDir.length + 1)).hashPart;
    } catch (e) {
      if (e instanceof InvalidPathError) return false;
      throw e;
    }
    this.tempHashes.add(hashPart);
    LiveGraph.reach([path], (p) => this.graph.keeps(p), this.alive);
    return true;
  }

  isProtected(baseName: string): boolean {
    return this.tempHashes.has(hashPartOf(baseName)) || this.alive.has(`${this.store.storeDir}/${baseName}`);
  }

  findRoots(): void {
    this.info('finding garbage collector roots...');
    const { layout, db } = this.store;
    const roots: Roots = new Map();
    db.sqlite.transaction(() => {
      if (!this.options.ignoreLiveness) {
        findLinkRoots(layout, db, roots, { info: this.info });
        findRuntimeRoots(layout, db, roots, { censor: true });
      }
      LiveGraph.reach(roots.keys(), (p) => this.graph.keeps(p), this.alive);
      // Read after the lock was taken: roots announced later come through the socket. Those
      // not valid (yet) protect their names all the same: a build's output being written.
      const stale = (file: string): void => this.info(`removing stale temporary roots file '${file}'`);
      for (const paths of readTempRoots(layout, stale).values()) for (const p of paths) this.protect(p);
    })();
  }

  /**
   * Makes sure the trash is a directory of our own (see ownDirectory.ts), and empties what
   * a collection that was killed left there: invalid already, only the files remain.
   */
  prepareTrash(): void {
    ensureOwnDirectory(this.trashDir, 0o700);
    for (const name of readdirSync(this.trashDir)) this.results.bytesFreed += deletePathSync(`${this.trashDir}/${name}`);
  }

  /** Every entry of the store directory the collector manages (not `.links`, not the trash). */
  storeEntries(): string[] {
    return readdirSync(this.store.layout.realStoreDir).filter((name) => name !== '.links' && name !== TRASH);
  }

  /** Entries that are not live: store path names (valid or not), and names that are no store path. */
  deadEntries(): { valid: string[]; invalid: string[] } {
    const valid: string[] = [];
    const invalid: string[] = [];
    const isValid = this.store.db.statement('select 1 from ValidPaths where path = ?');
    const entries = this.storeEntries();
    // One read transaction: a statement on its own takes and drops SQLite's locks each time.
    this.store.db.sqlite.transaction(() => {
      for (const name of entries) {
        if (this.isProtected(name)) continue;
        const path = `${this.store.storeDir}/${name}`;
        if (isValid.get(path) !== undefined) valid.push(name);
        else invalid.push(name);
      }
    })();
    return { valid, invalid };
  }

  /**
   * Deletes `names` (base names, valid ones ordered referrers first) in steps. A valid one
   * that something outside the deletion still refers to (registered since the roots were
   * read) is kept, with what it keeps. The trash of each step is handed to the store's
   * deleting service (the pool's threads) while the next step's database work goes on;
   * with a byte limit, paths are deleted one at a time here, to stop at the limit.
   */
  async deleteInSteps(names: string[]): Promise<void> {
    const limited = this.options.maxFreed !== undefined;
    const step = limited ? 1 : STEP;
    const { storeDir } = this.store;
    const deleting: Promise<void>[] = [];
    let failure: unknown;
    const handOver = (dir: string, trusted: boolean): void => {
      const done = this.store.deleting.deleteTrees([dir], trusted).then((bytes) => {
        this.results.bytesFreed += bytes;
      });
      // Remembered at once, so that a failure is not an unhandled rejection before it is awaited.
      done.catch((e: unknown) => (failure ??= e));
      deleting.push(done);
    };
    try {
      for (let i = 0; i < names.length; i += step) {
        const { wasValid, doomed } = this.invalidate(names.slice(i, i + step).filter((name) => !this.isProtected(name)));
        if (doomed.length === 0) continue;
        // Invalid from here on: a kill now leaves garbage, never a valid path without content.
        this.info(doomed.map((name) => `deleting '${storeDir}/${name}'`).join('\n'));
        for (const name of doomed) this.results.paths.push(`${storeDir}/${name}`);
        // Valid paths' content is the store's own, read-only: deleted by plain paths, half on
        // each thread. Other entries may belong to a build user: deleted the careful way.
        const valid = doomed.filter((name) => wasValid.has(name));
        const half = Math.ceil(valid.length / 2);
        const parts: [string[], boolean][] = [
          [valid.slice(0, half), true],
          [valid.slice(half), true],
          [doomed.filter((name) => !wasValid.has(name)), false],
        ];
        for (const [part, trusted] of parts) {
          if (part.length === 0) continue;
          // Moved here, before the roots socket may answer again: once a client has heard
          // that its path is protected, or found it gone, no rename of that name is to come.
          const dir = this.moveToTrash(part);
          if (!limited) {
            handOver(dir, trusted);
            continue;
          }
          this.results.bytesFreed += deleteTreesSync([dir], trusted);
          if (this.results.bytesFreed > this.options.maxFreed!) {
            this.info(`deleted more than ${this.options.maxFreed} bytes; stopping`);
            throw new LimitReached();
          }
        }
        while (deleting.length > MAX_DELETING) await deleting.shift();
        if (failure !== undefined) throw failure;
        // Let the roots socket answer: announcements wait only for the step in progress.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      // Nothing may go on deleting once this returns (the trash directory goes next).
      await Promise.allSettled(deleting);
    }
    if (failure !== undefined) throw failure;
  }

  /**
   * Renames the entries `names` of the store directory into a new directory in the trash
   * (one per thread's share: threads emptying one directory would wait on its lock).
   */
  private moveToTrash(names: string[]): string {
    const dir = `${this.trashDir}/${process.pid}-${++this.trashParts}`;
    mkdirSync(dir, { mode: 0o700 });
    const real = this.store.layout.realStoreDir;
    // In one call to the file addon where it is there: ~12 us a path in Node, two path
    // walks each, on the collector's critical thread.
    const io = fileIo();
    if (io) {
      const status = io.renameEntries(real, dir, names, failedAt);
      if (status < 0) throw errnoError(status, 'rename', failedAt[0]! < 0 ? `${real}' or '${dir}` : `${real}/${names[failedAt[0]!]}`);
      return dir;
    }
    for (const name of names) {
      try {
        moveOutOfDirectory(`${real}/${name}`, `${dir}/${name}`);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    return dir;
  }

  /**
   * Makes the valid ones among `batch` invalid in one transaction; returns what may now be
   * deleted (all but those something outside still refers to) and which of them were valid.
   */
  private invalidate(batch: string[]): { wasValid: Set<string>; doomed: string[] } {
    const { db, storeDir } = this.store;
    const wasValid = new Set<string>();
    const doomed = db.transaction(() => {
      const out: string[] = [];
      const idOf = db.statement('select id from ValidPaths where path = ?');
      const inUse = db.statement('select 1 from Refs where reference = ? and referrer != ? limit 1');
      const remove = db.statement('delete from ValidPaths where id = ?');
      for (const name of batch) {
        const path = `${storeDir}/${name}`;
        const row = idOf.get(path) as { id: number } | undefined;
        if (row !== undefined) {
          if (inUse.get(row.id, row.id) !== undefined) {
            LiveGraph.reach([path], (p) => this.graph.keeps(p), this.alive);
            continue;
          }
          remove.run(row.id);
          wasValid.add(name);
        }
        out.push(name);
      }
      return out;
    });
    return { wasValid, doomed };
  }

  /** Base names of `paths` in an order safe to invalidate in: referrers before their references. */
  referrersFirst(paths: Iterable<string>): string[] {
    const { db, storeDir } = this.store;
    const isValid = db.statement('select 1 from ValidPaths where path = ?');
    return db.sqlite.transaction(() => {
      const valid = [...paths].filter((p) => isValid.get(p) !== undefined);
      const invalid = [...paths].filter((p) => isValid.get(p) === undefined);
      const order = topoSort(valid, (p) => queryReferences(db, p)).reverse();
      return [...invalid, ...order].map((p) => p.slice(storeDir.length + 1));
    })();
  }

  /** `--delete`: each named path with whatever would keep it, all of which must be named and dead. */
  async deleteSpecific(paths: string[]): Promise<void> {
    // Whole store paths only: a name with a `/` in it would lead the renames astray.
    for (const path of paths) parseStorePath(path, this.store.storeDir);
    const named = new Set(paths);
    const dead = new Set<string>();
    for (const start of [...named].sort()) {
      if (dead.has(start)) continue;
      const visited = new Set<string>();
      let deletable = true;
      LiveGraph.reach(
        [start],
        (p) => {
          if (!deletable) return [];
          if (this.isProtected(p.slice(this.store.storeDir.length + 1)) || !named.has(p)) {
            deletable = false;
            return [];
          }
          return this.graph.keptBy(p).filter((q) => !dead.has(q));
        },
        visited,
      );
      if (!deletable) throw new PathAliveError(start);
      await this.deleteInSteps(this.referrersFirst(visited));
      for (const p of visited) dead.add(p);
      // Protected meanwhile (a temp root announced), or referred to by a path added since.
      if (isValidPath(this.store.db, start)) throw new PathAliveError(start);
    }
  }

  /** Removes the files in `.links` no store path links to any more; tells what linking saves. */
  deleteUnusedLinks(): void {
    this.info('deleting unused links...');
    const linksDir = this.store.layout.linksDir;
    ensureOwnDirectory(linksDir, 0o755);
    const names = readdirSync(linksDir);
    let actualSize = 0;
    let unsharedSize = 0;
    for (const name of names) {
      const path = `${linksDir}/${name}`;
      // Gone meanwhile (another collector, nix's): nothing to do.
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (st === undefined) continue;
      if (st.nlink !== 1) {
        actualSize += st.size;
        unsharedSize += (st.nlink - 1) * st.size;
        continue;
      }
      try {
        unlinkSync(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    const overhead = statSync(linksDir).blocks * 512;
    this.info(`note: currently hard linking saves ${toMiB(unsharedSize - actualSize - overhead)} MiB`);
  }

  removeTrashDir(): void {
    try {
      rmdirSync(this.trashDir);
    } catch {
      // Not there, or not empty after a failure: the next collection empties it.
    }
  }
}

/**
 * Runs a collection. Resolves with what was deleted, or for the `return-*` actions the live
 * or dead paths; a `delete-specific` of a live path rejects with PathAliveError, after
 * deleting the paths named before it, as nix does.
 */
export async function collectGarbage(store: LocalStore, options: GcOptions): Promise<GcResults> {
  const collector = new Collector(store, options);
  const shouldDelete = options.action === 'delete-dead' || options.action === 'delete-specific';
  const info = options.info ?? (() => undefined);
  // Space nix keeps in reserve so that a full disk can still be collected.
  if (shouldDelete) deletePathSync(store.layout.reservedPath);
  const lockFd = openGCLock(store.layout);
  try {
    if (!tryLock(lockFd, 'exclusive')) {
      info('waiting for the big garbage collector lock...');
      await waitLock(lockFd, 'exclusive');
    }
    // Deleting threads start while the roots are found.
    if (shouldDelete) store.deleting.prepare?.();
    const server = await GcSocketServer.listen(store.layout.gcSocketPath, (path) => collector.protect(path));
    try {
      collector.findRoots();
      await options.beforeDeleting?.();
      if (shouldDelete) collector.prepareTrash();
      try {
        if (options.action === 'delete-specific') {
          await collector.deleteSpecific(options.pathsToDelete ?? []);
        } else if (options.maxFreed === undefined || options.maxFreed > 0) {
          info(shouldDelete ? 'deleting garbage...' : 'determining live/dead paths...');
          const { valid, invalid } = collector.deadEntries();
          if (options.action === 'return-live') {
            collector.results.paths = [...collector.alive].filter((p) => isValidPath(store.db, p)).sort();
            return collector.results;
          }
          if (options.action === 'return-dead') {
            collector.results.paths = [...valid, ...invalid.filter(isStorePathName)].map((n) => `${store.storeDir}/${n}`).sort();
            return collector.results;
          }
          await collector.deleteInSteps([...invalid, ...collector.referrersFirst(valid.map((n) => `${store.storeDir}/${n}`))]);
        }
      } catch (e) {
        if (!(e instanceof LimitReached)) throw e;
      } finally {
        if (shouldDelete) collector.removeTrashDir();
      }
      if (shouldDelete) collector.deleteUnusedLinks();
      return collector.results;
    } finally {
      await server.close();
    }
  } finally {
    closeSync(lockFd);
  }
}

function isStorePathName(name: string): boolean {
  try {
    parseBaseName(name);
    return true;
  } catch (e) {
    if (e instanceof InvalidPathError) return false;
    throw e;
  }
}
