/**
 * Store optimisation, as Nix does it and compatible with its `.links/` directory: every
 * regular file (and symlink, as nix on Linux) gets a content-addressed name `STORE/.links/HASH` (the nix32 sha256 of the
 * file's NAR, so executable and plain files never share), and a file whose content is there
 * already is replaced by a hard link to it. The replacement is a new link made beside it and
 * renamed over it, so a reader never sees the file missing.
 *
 * Hashing runs on the store's hashing service (the pool's threads, in the CLI); the links
 * themselves are made here, one file at a time. Two optimisers, ours or nix's, may run at
 * once: each step tolerates the other having done it first.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, linkSync, lstatSync, mkdirSync, readdirSync, renameSync, unlinkSync, utimesSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import type { LocalStore } from './localStore.js';
import type { FileToHash } from './pathHashing.js';

export interface OptimiseStats {
  filesLinked: number;
  bytesFreed: number;
}

export interface OptimiseOptions {
  /** Told nix's messages at its default verbosity. */
  info?: (message: string) => void;
  /** Told nix's warnings (without the `warning: ` prefix). */
  warn?: (message: string) => void;
}

interface Candidate extends FileToHash {
  st: Stats;
}

/** Files hashed per task: enough to amortise a round trip to a worker, few enough to spread. */
const BATCH_FILES = 64;
const BATCH_BYTES = 8 << 20;

function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

export function freedByLinkingLine(stats: OptimiseStats): string {
  return `${(stats.bytesFreed / (1024 * 1024)).toFixed(2)} MiB freed by hard-linking ${stats.filesLinked} files`;
}

class Optimiser {
  readonly stats: OptimiseStats = { filesLinked: 0, bytesFreed: 0 };
  private readonly linksDir: string;
  private readonly info: (message: string) => void;
  private readonly warn: (message: string) => void;

  constructor(
    private readonly store: LocalStore,
    /** Inodes known to be in `.links`: a file with one of them costs only its lstat. */
    private readonly linkedInodes: Set<number>,
    options: OptimiseOptions,
  ) {
    this.linksDir = store.layout.linksDir;
    this.info = options.info ?? (() => undefined);
    this.warn = options.warn ?? (() => undefined);
    mkdirSync(this.linksDir, { recursive: true });
  }

  /** The regular files under `realPath` that may need linking. */
  candidates(realPath: string, into: Candidate[]): void {
    const st = lstatSync(realPath);
    if (st.isDirectory()) {
      for (const name of readdirSync(realPath)) this.candidates(`${realPath}/${name}`, into);
      return;
    }
    // Symlinks too, as nix does on Linux: one inode for a thousand identical links.
    if (st.isSymbolicLink()) {
      if (st.nlink > 1 && this.linkedInodes.has(st.ino)) return;
      into.push({ path: realPath, executable: false, symlink: true, st });
      return;
    }
    if (!st.isFile()) return;
    // A writable file in the store was changed behind nix's back (a program run as root
    // writing into its own output): it must not become the content of other paths.
    if ((st.mode & 0o200) !== 0) {
      this.warn(`skipping suspicious writable file '${realPath}'`);
      return;
    }
    if (st.nlink > 1 && this.linkedInodes.has(st.ino)) return;
    into.push({ path: realPath, executable: (st.mode & 0o100) !== 0, st });
  }

  /** Links `file`, whose NAR hash is `hash`, to its `.links` entry (making that entry if new). */
  link(file: Candidate, hash: string): void {
    const { st } = file;
    const linkPath = `${this.linksDir}/${hash}`;
    for (;;) {
      let stLink: Stats | undefined;
      try {
        stLink = lstatSync(linkPath);
      } catch (e) {
        if (errnoOf(e) !== 'ENOENT') throw e;
      }
      if (stLink === undefined) {
        try {
          linkSync(file.path, linkPath);
          this.linkedInodes.add(st.ino);
          return;
        } catch (e) {
          // EEXIST: another optimiser made it first; use theirs.
          if (errnoOf(e) === 'ENOSPC') {
            // A full directory index (ext4): this content just stays unshared.
            this.info(`cannot link '${linkPath}' to '${file.path}': No space left on device`);
            return;
          }
          if (errnoOf(e) !== 'EEXIST') throw e;
          continue;
        }
      }
      if (stLink.ino === st.ino) return;
      if (stLink.size !== st.size) {
        this.warn(`removing corrupted link '${linkPath}'`);
        this.warn('There may be more corrupted paths.\nYou should run `nix-store --verify --check-contents --repair` to fix them all');
        unlinkSync(linkPath);
        continue;
      }
      return this.replaceWithLink(file, linkPath);
    }
  }

  private replaceWithLink(file: Candidate, linkPath: string): void {
    const { st } = file;
    const dir = dirname(file.path);
    // The store directory itself is left as it is; a path's own directories are read-only
    // and are made writable for the rename, then given back their mode and time.
    const toggle = dir !== this.store.layout.realStoreDir;
    const dirSt = toggle ? lstatSync(dir) : undefined;
    if (dirSt !== undefined) chmodSync(dir, (dirSt.mode & 0o7777) | 0o200);
    try {
      const tempLink = `${this.store.layout.realStoreDir}/.tmp-link-${process.pid}-${randomBytes(4).readUInt32BE()}`;
      try {
        linkSync(linkPath, tempLink);
      } catch (e) {
        if (errnoOf(e) === 'EMLINK') {
          // The file system's link limit (often reached by empty files): leave it unshared.
          if (st.size > 0) this.info(`'${linkPath}' has maximum number of links`);
          return;
        }
        throw e;
      }
      try {
        renameSync(tempLink, file.path);
      } catch (e) {
        unlinkSync(tempLink);
        // Some file systems count the link twice during the rename.
        if (errnoOf(e) === 'EMLINK') return;
        throw e;
      }
    } finally {
      if (dirSt !== undefined) {
        chmodSync(dir, dirSt.mode & 0o7777);
        utimesSync(dir, dirSt.atime, dirSt.mtime);
      }
    }
    this.stats.filesLinked++;
    this.stats.bytesFreed += st.size;
  }

  /** Hashes `files` in batches on the store's hashing service and links each as its batch returns. */
  async linkAll(files: Candidate[]): Promise<void> {
    const batches: Candidate[][] = [];
    let current: Candidate[] = [];
    let bytes = 0;
    for (const file of files) {
      current.push(file);
      bytes += file.st.size;
      if (current.length >= BATCH_FILES || bytes >= BATCH_BYTES) {
        batches.push(current);
        current = [];
        bytes = 0;
      }
    }
    if (current.length > 0) batches.push(current);
    // A few batches in flight keep every worker busy while this thread links.
    const inFlight = 4;
    const hashing = batches.map(() => undefined as Promise<string[]> | undefined);
    const start = (i: number): void => {
      if (i < batches.length) hashing[i] = this.store.hashing.hashFiles(batches[i]!.map(({ path, executable, symlink }) => ({ path, executable, symlink })));
    };
    for (let i = 0; i < inFlight; i++) start(i);
    for (let i = 0; i < batches.length; i++) {
      const hashes = await hashing[i]!;
      start(i + inFlight);
      batches[i]!.forEach((file, j) => this.link(file, hashes[j]!));
    }
  }
}

/** The inodes of everything in `.links`, so that files already linked are recognised by their lstat alone. */
function loadLinkedInodes(linksDir: string): Set<number> {
  const inodes = new Set<number>();
  let names: string[];
  try {
    names = readdirSync(linksDir);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return inodes;
    throw e;
  }
  for (const name of names) {
    try {
      inodes.add(lstatSync(`${linksDir}/${name}`).ino);
    } catch (e) {
      // Removed meanwhile by a collector: not linked any more.
      if (errnoOf(e) !== 'ENOENT') throw e;
    }
  }
  return inodes;
}

/** `--optimise`: every valid path, each protected by a temp root while it is worked on. */
export async function optimiseStore(store: LocalStore, options: OptimiseOptions = {}): Promise<OptimiseStats> {
  const optimiser = new Optimiser(store, loadLinkedInodes(store.layout.linksDir), options);
  const paths = store.db.columnStatement('select path from ValidPaths order by path').all() as string[];
  const isValid = store.db.statement('select 1 from ValidPaths where path = ?');
  const files: Candidate[] = [];
  for (const path of paths) {
    await store.addTempRoot(path);
    // Collected between the listing and the temp root: nothing to optimise.
    if (isValid.get(path) === undefined) continue;
    try {
      optimiser.candidates(store.layout.toReal(path), files);
    } catch (e) {
      // A valid path with missing content is --verify's business, not ours.
      if (errnoOf(e) !== 'ENOENT') throw e;
    }
  }
  await optimiser.linkAll(files);
  return optimiser.stats;
}

/**
 * `auto-optimise-store`: links the files of content about to be registered (still in its
 * temporary directory or already at its path). Does nothing when the setting is off.
 */
export async function autoOptimise(store: LocalStore, realPaths: Iterable<string>, options: OptimiseOptions = {}): Promise<void> {
  if (!store.settings.bool('auto-optimise-store')) return;
  const optimiser = new Optimiser(store, new Set(), options);
  const files: Candidate[] = [];
  for (const path of realPaths) optimiser.candidates(path, files);
  await optimiser.linkAll(files);
}
