/**
 * Store optimisation, as Nix does it and compatible with its `.links/` directory: every
 * regular file (and symlink, as nix on Linux) gets a content-addressed name
 * `STORE/.links/HASH` (the nix32 sha256 of its NAR, so executable and plain files never
 * share), and a file whose content is there already is replaced by a hard link to it. The
 * replacement is a new link made beside it and renamed over it, so a reader never sees the
 * file missing.
 *
 * Paths are optimised in groups by the store's optimising service (the pool's threads, in
 * the CLI). Optimisers may run at once, ours or nix's: each step tolerates another having
 * done it first.
 */
import { chmodSync, linkSync, lstatSync, mkdirSync, readdirSync, renameSync, rmdirSync, unlinkSync, utimesSync, type Stats } from 'node:fs';
import { threadId } from 'node:worker_threads';
import { randomBytes } from 'node:crypto';
import type { LocalStore } from './localStore.js';
import { fileNarHash, type LinkableKind } from './nar/fileNarHash.js';
import { ensureOwnDirectory } from './ownDirectory.js';
import { TempDir } from './tempPath.js';

export interface OptimiseStats {
  filesLinked: number;
  bytesFreed: number;
}

/** What one group of paths asks of an optimising thread. */
export interface OptimiseTask {
  /** Physical paths: store paths, or content about to become one. */
  realPaths: string[];
  realStoreDir: string;
  linksDir: string;
  /** A temporary directory in the store (which keeps collectors away) for the temporary links. */
  tempDir: string;
  /** Inodes known to be in `.links`: a file with one of them costs only its lstat. */
  linkedInodes: number[];
}

export interface OptimiseResult extends OptimiseStats {
  /** nix's messages at its default verbosity, in order. */
  messages: { level: 'info' | 'warn'; text: string }[];
}

/** Optimising as a service the store is given (like its hashing). */
export interface PathOptimising {
  optimisePaths(task: OptimiseTask): Promise<OptimiseResult>;
  /** Told early that work will come (threads can start meanwhile). */
  prepare?(): void;
}

export const optimisingHere: PathOptimising = {
  optimisePaths: (task) => Promise.resolve(optimisePathsSync(task)),
};

export function freedByLinkingLine(stats: OptimiseStats): string {
  return `${(stats.bytesFreed / (1024 * 1024)).toFixed(2)} MiB freed by hard-linking ${stats.filesLinked} files`;
}

function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

interface Candidate {
  path: string;
  kind: LinkableKind;
  st: Stats;
}

class Optimiser {
  readonly result: OptimiseResult = { filesLinked: 0, bytesFreed: 0, messages: [] };
  private readonly inodes: Set<number>;
  private readonly buffer = Buffer.allocUnsafe(1 << 20);
  /**
   * `.links` entries this thread has looked at, with their inode and size: content shared by
   * many paths needs its entry's lstat once. Should an entry go meanwhile (a collector
   * removes only those nothing else links to), making the temporary link fails, and the
   * file is looked at again.
   */
  private readonly seenLinks = new Map<string, { ino: number; size: number }>();
  private linksHere: string | undefined;
  private tempLinks = 0;

  constructor(private readonly task: OptimiseTask) {
    this.inodes = new Set(task.linkedInodes);
  }

  private info(text: string): void {
    this.result.messages.push({ level: 'info', text });
  }

  private warn(text: string): void {
    this.result.messages.push({ level: 'warn', text });
  }

  optimiseTree(realPath: string): void {
    const st = lstatSync(realPath);
    if (st.isDirectory()) return this.optimiseDirectory(realPath);
    const candidate = this.candidate(realPath, st);
    const linkPath = candidate && this.linkFor(candidate);
    if (candidate && linkPath) this.replaceIn(realPath.slice(0, realPath.lastIndexOf('/')), [[candidate, linkPath]]);
  }

  /** A directory's files, then its subdirectories; its own replacements made together. */
  private optimiseDirectory(dir: string): void {
    const replacements: [Candidate, string][] = [];
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const child = `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        this.optimiseDirectory(child);
        continue;
      }
      if (!entry.isFile() && !entry.isSymbolicLink()) continue;
      const candidate = this.candidate(child, lstatSync(child));
      const linkPath = candidate && this.linkFor(candidate);
      if (candidate && linkPath) replacements.push([candidate, linkPath]);
    }
    if (replacements.length > 0) this.replaceIn(dir, replacements);
  }

  private candidate(path: string, st: Stats): Candidate | undefined {
    // Symlinks too, as nix does on Linux: one inode for a thousand identical links.
    if (st.isSymbolicLink()) return st.nlink > 1 && this.inodes.has(st.ino) ? undefined : { path, kind: 'symlink', st };
    if (!st.isFile()) return undefined;
    // A writable file in the store was changed behind nix's back (a program run as root
    // writing into its own output): it must not become the content of other paths.
    if ((st.mode & 0o200) !== 0) {
      this.warn(`skipping suspicious writable file '${path}'`);
      return undefined;
    }
    if (st.nlink > 1 && this.inodes.has(st.ino)) return undefined;
    return { path, kind: (st.mode & 0o100) !== 0 ? 'executable' : 'regular', st };
  }

  /**
   * Gives `file` its `.links` entry, making the entry from it when there is none. Returns
   * the entry when the file should be replaced by a link to it, else undefined.
   */
  private linkFor(file: Candidate): string | undefined {
    const { st } = file;
    const linkPath = `${this.task.linksDir}/${fileNarHash(file.path, file.kind, file.st.size, this.buffer)}`;
    const seen = this.seenLinks.get(linkPath);
    if (seen !== undefined && seen.size === st.size) return seen.ino === st.ino ? undefined : linkPath;
    for (;;) {
      // Missing is the common case for content seen first: no exception for it.
      const stLink: Stats | undefined = lstatSync(linkPath, { throwIfNoEntry: false });
      if (stLink === undefined) {
        try {
          linkSync(file.path, linkPath);
          this.inodes.add(st.ino);
          return undefined;
        } catch (e) {
          if (errnoOf(e) === 'ENOSPC') {
            // A full directory index (ext4): this content just stays unshared.
            this.info(`cannot link '${linkPath}' to '${file.path}': No space left on device`);
            return undefined;
          }
          // EEXIST: another optimiser made it first; use theirs.
          if (errnoOf(e) !== 'EEXIST') throw e;
          continue;
        }
      }
      this.seenLinks.set(linkPath, { ino: stLink.ino, size: stLink.size });
      if (stLink.ino === st.ino) return undefined;
      if (stLink.size !== st.size) {
        this.seenLinks.delete(linkPath);
        this.warn(`removing corrupted link '${linkPath}'`);
        this.warn('There may be more corrupted paths.\nYou should run `nix-store --verify --check-contents --repair` to fix them all');
        unlinkSync(linkPath);
        continue;
      }
      return linkPath;
    }
  }

  /**
   * A new link to `linkPath` in a directory of this thread's own in the task's temporary
   * directory: outside every path, as nix's temporary links, and not in the store directory
   * itself, whose lock every thread would queue on.
   */
  private makeTempLink(linkPath: string): string {
    if (this.linksHere === undefined) {
      const dir = `${this.task.tempDir}/${threadId}-${randomBytes(4).toString('hex')}`;
      mkdirSync(dir, { mode: 0o700 });
      this.linksHere = dir;
    }
    const tempLink = `${this.linksHere}/${++this.tempLinks}`;
    linkSync(linkPath, tempLink);
    return tempLink;
  }

  /** Removes this thread's directory of temporary links, empty once every replacement is done. */
  finish(): void {
    if (this.linksHere === undefined) return;
    try {
      rmdirSync(this.linksHere);
    } catch {
      // Left for the temporary directory's removal.
    }
    this.linksHere = undefined;
  }

  /**
   * Replaces files of `dir` by links to their entries. The directory is made writable only
   * if the system refuses otherwise (root is never refused), and gets back its mode and its
   * time: the store's directories are read-only and dated 1970.
   */
  private replaceIn(dir: string, replacements: [Candidate, string][]): void {
    const own = dir === this.task.realStoreDir;
    const dirSt = own ? undefined : lstatSync(dir);
    let madeWritable = false;
    const retryWritable = (op: () => void): void => {
      try {
        op();
      } catch (e) {
        if (dirSt === undefined || madeWritable || errnoOf(e) !== 'EACCES') throw e;
        chmodSync(dir, (dirSt.mode & 0o7777) | 0o200);
        madeWritable = true;
        op();
      }
    };
    try {
      for (const [file, linkPath] of replacements) {
        // Never inside a path: a reader of the path must not see it, nor may a kill leave it there.
        let tempLink: string;
        try {
          tempLink = this.makeTempLink(linkPath);
        } catch (e) {
          if (errnoOf(e) === 'ENOENT' && this.seenLinks.delete(linkPath)) {
            // The entry went since we looked: the file may make a new one, or use another's.
            const again = this.linkFor(file);
            if (again !== undefined) replacements.push([file, again]);
            continue;
          }
          if (errnoOf(e) === 'EMLINK') {
            // The file system's link limit (often reached by empty files): leave it unshared.
            if (file.st.size > 0) this.info(`'${linkPath}' has maximum number of links`);
            continue;
          }
          throw e;
        }
        try {
          retryWritable(() => renameSync(tempLink, file.path));
        } catch (e) {
          unlinkSync(tempLink);
          // Some file systems count the link twice during the rename.
          if (errnoOf(e) === 'EMLINK') continue;
          throw e;
        }
        this.result.filesLinked++;
        this.result.bytesFreed += file.st.size;
      }
    } finally {
      if (dirSt !== undefined) {
        if (madeWritable) chmodSync(dir, dirSt.mode & 0o7777);
        utimesSync(dir, dirSt.atime, dirSt.mtime);
      }
    }
  }
}

/** Optimises `task.realPaths` on this thread; a path that is gone meanwhile is skipped. */
export function optimisePathsSync(task: OptimiseTask): OptimiseResult {
  const optimiser = new Optimiser(task);
  try {
    for (const path of task.realPaths) {
      try {
        optimiser.optimiseTree(path);
      } catch (e) {
        // Collected while we worked, or a valid path with missing content (--verify's business).
        if (errnoOf(e) !== 'ENOENT') throw e;
      }
    }
  } finally {
    optimiser.finish();
  }
  return optimiser.result;
}

/** The inodes of everything in `.links`, so that files already linked are recognised by their lstat alone. */
function loadLinkedInodes(linksDir: string): number[] {
  const inodes: number[] = [];
  let names: string[];
  try {
    names = readdirSync(linksDir);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return inodes;
    throw e;
  }
  for (const name of names) {
    try {
      inodes.push(lstatSync(`${linksDir}/${name}`).ino);
    } catch (e) {
      // Removed meanwhile by a collector: not linked any more.
      if (errnoOf(e) !== 'ENOENT') throw e;
    }
  }
  return inodes;
}

export interface OptimiseOptions {
  /** Told nix's messages at its default verbosity. */
  info?: (message: string) => void;
  /** Told nix's warnings (without the `warning: ` prefix). */
  warn?: (message: string) => void;
}

/** Paths per task: enough to amortise a trip to a thread, few enough to spread over them. */
const GROUP = 64;
/** Groups handed over and not yet done: enough to keep the threads busy. */
const IN_FLIGHT = 4;

/** `--optimise`: every valid path, each protected by a temp root before it is looked at. */
export async function optimiseStore(store: LocalStore, options: OptimiseOptions = {}): Promise<OptimiseStats> {
  const { layout } = store;
  store.optimising.prepare?.();
  ensureOwnDirectory(layout.linksDir, 0o755);
  const linkedInodes = loadLinkedInodes(layout.linksDir);
  const paths = store.db.columnStatement('select path from ValidPaths order by path').all() as string[];
  const isValid = store.db.statement('select 1 from ValidPaths where path = ?');
  const stats: OptimiseStats = { filesLinked: 0, bytesFreed: 0 };
  const pending: Promise<void>[] = [];
  let failure: unknown;
  const temp = await TempDir.create(layout, 'optimise', store.onWait);
  try {
    for (let i = 0; i < paths.length && failure === undefined; i += GROUP) {
      const group: string[] = [];
      for (const path of paths.slice(i, i + GROUP)) {
        await store.addTempRoot(path);
        // Collected between the listing and the temp root: nothing to optimise.
        if (isValid.get(path) !== undefined) group.push(layout.toReal(path));
      }
      const done = store.optimising.optimisePaths({ realPaths: group, realStoreDir: layout.realStoreDir, linksDir: layout.linksDir, tempDir: temp.path, linkedInodes }).then((result) => {
        stats.filesLinked += result.filesLinked;
        stats.bytesFreed += result.bytesFreed;
        for (const { level, text } of result.messages) (level === 'warn' ? options.warn : options.info)?.(text);
      });
      done.catch((e: unknown) => (failure ??= e));
      pending.push(done);
      while (pending.length >= IN_FLIGHT) await pending.shift();
    }
  } finally {
    await Promise.allSettled(pending);
    temp.remove();
  }
  if (failure !== undefined) throw failure;
  return stats;
}

/**
 * `auto-optimise-store`: links the files of content about to be registered (still in its
 * temporary directory or already at its path). Does nothing when the setting is off.
 */
export async function autoOptimise(store: LocalStore, realPaths: Iterable<string>): Promise<void> {
  if (!store.settings.bool('auto-optimise-store')) return;
  const { layout } = store;
  ensureOwnDirectory(layout.linksDir, 0o755);
  const temp = await TempDir.create(layout, 'optimise', store.onWait);
  try {
    await store.optimising.optimisePaths({ realPaths: [...realPaths], realStoreDir: layout.realStoreDir, linksDir: layout.linksDir, tempDir: temp.path, linkedInodes: [] });
  } finally {
    temp.remove();
  }
}
