/**
 * Garbage collector roots, found where and as Nix finds them:
 *
 * - under `gcroots/` and `profiles/`: a symlink into the store; a symlink to a symlink
 *   elsewhere that points into the store (an indirect root, as `--add-root` makes under
 *   `auto/`; when its target is gone the root is dropped, and under `auto/` removed); a
 *   regular file named by a store path's base name (one directory entry, no readlink);
 * - runtime roots: store paths that running processes run from, hold open, map, or name
 *   in their environment (`/proc`);
 * - temp roots: what running tsnix and nix processes are using (`temproots/PID`).
 *
 * Each root maps to the links that keep it, which `--print-roots` and `-q --roots` show.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync, type Dirent } from 'node:fs';
import { encodeNix32 } from '../format/base32.js';
import { dirname, resolve } from 'node:path';
import { InvalidPathError } from '../format/errors.js';
import { parseBaseName, toStorePath } from '../format/storePath.js';
import type { StoreDatabase } from './database.js';
import type { StoreLayout } from './layout.js';
import { readTempRoots } from './locks/tempRoots.js';
import { isValidPath } from './queryPathInfo.js';

/** Store path → the links (files, `/proc` entries, `{temp:PID}`) that keep it alive. */
export type Roots = Map<string, Set<string>>;

/** What an unprivileged user sees instead of another process's `/proc` entries. */
export const CENSORED = '{censored}';

export interface FindRootsOptions {
  /** Hide which processes hold runtime and temp roots (for users who may not know). */
  censor?: boolean;
  /** Told what nix tells at its default verbosity (stale links removed, unreadable roots). */
  info?: (message: string) => void;
}

export function addRoot(roots: Roots, storePath: string, link: string): void {
  let links = roots.get(storePath);
  if (links === undefined) roots.set(storePath, (links = new Set()));
  links.add(link);
}

function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/** The store path a link target lies in, or undefined when it is not in the store. */
function storePathOf(target: string, storeDir: string): string | undefined {
  if (!target.startsWith(`${storeDir}/`)) return undefined;
  try {
    return toStorePath(target, storeDir);
  } catch (e) {
    if (e instanceof InvalidPathError) return undefined;
    throw e;
  }
}

class RootWalker {
  private readonly autoDir: string;

  constructor(
    private readonly layout: StoreLayout,
    private readonly db: StoreDatabase,
    private readonly roots: Roots,
    private readonly info: (message: string) => void,
  ) {
    this.autoDir = `${layout.gcRootsDir}/auto/`;
  }

  private found(link: string, target: string): void {
    const storePath = storePathOf(target, this.layout.storeDir);
    if (storePath === undefined) return;
    if (isValidPath(this.db, storePath)) addRoot(this.roots, storePath, link);
    else this.info(`skipping invalid root from '${link}' to '${target}'`);
  }

  /** Visits `path`, whose type readdir may already have told (`entry`). */
  visit(path: string, entry?: Dirent): void {
    try {
      const isDirectory = entry ? entry.isDirectory() : undefined;
      const isLink = entry ? entry.isSymbolicLink() : undefined;
      const isFile = entry ? entry.isFile() : undefined;
      if (entry === undefined || (!isDirectory && !isLink && !isFile)) {
        const st = lstatSync(path);
        return this.visitTyped(path, st.isDirectory(), st.isSymbolicLink(), st.isFile());
      }
      this.visitTyped(path, isDirectory!, isLink!, isFile!);
    } catch (e) {
      // Only permanent failures are skipped, as nix does: a root we cannot read keeps nothing.
      const code = errnoOf(e);
      if (code === 'EACCES' || code === 'ENOENT' || code === 'ENOTDIR') this.info(`cannot read potential root '${path}'`);
      else throw e;
    }
  }

  private visitTyped(path: string, isDirectory: boolean, isLink: boolean, isFile: boolean): void {
    if (isDirectory) {
      for (const child of readdirSync(path, { withFileTypes: true })) this.visit(`${path}/${child.name}`, child);
    } else if (isLink) {
      this.visitLink(path);
    } else if (isFile) {
      // A file named by a base name is a root without a readlink: cheap for many builds.
      let storePath: string;
      try {
        storePath = `${this.layout.storeDir}/${parseBaseName(path.slice(path.lastIndexOf('/') + 1)).baseName}`;
      } catch (e) {
        if (e instanceof InvalidPathError) return;
        throw e;
      }
      if (isValidPath(this.db, storePath)) addRoot(this.roots, storePath, path);
    }
  }

  private visitLink(path: string): void {
    const target = readlinkSync(path);
    if (target.startsWith(`${this.layout.storeDir}/`)) return this.found(path, target);
    // An indirect root: a link to a link (a `result` somewhere) that points into the store.
    const outer = resolve(dirname(path), target);
    let isLink: boolean;
    try {
      isLink = lstatSync(outer).isSymbolicLink();
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT' && errnoOf(e) !== 'ENOTDIR') throw e;
      // Its target is gone: the user deleted the `result`, so the root goes too.
      if (path.startsWith(this.autoDir)) {
        this.info(`removing stale link from '${path}' to '${outer}'`);
        unlinkSync(path);
      }
      return;
    }
    if (!isLink) return;
    const target2 = readlinkSync(outer);
    if (target2.startsWith(`${this.layout.storeDir}/`)) this.found(outer, target2);
  }
}

/** The roots under `gcroots/` and `profiles/` (not runtime, not temp). */
export function findLinkRoots(layout: StoreLayout, db: StoreDatabase, roots: Roots, options: FindRootsOptions = {}): void {
  const walker = new RootWalker(layout, db, roots, options.info ?? (() => undefined));
  walker.visit(layout.gcRootsDir);
  walker.visit(layout.profilesDir);
}

/** Store paths named in `text`, logical or physical (a chroot store's files are opened by their real path). */
function storePathsIn(text: string, layout: StoreLayout): string[] {
  const found: string[] = [];
  for (const dir of new Set([layout.storeDir, layout.realStoreDir])) {
    if (!text.includes(dir)) continue;
    const escaped = dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    for (const m of text.matchAll(new RegExp(`${escaped}/[0-9a-z]{32}-[0-9a-zA-Z+\\-._?=]+`, 'g'))) {
      found.push(layout.storeDir + m[0].slice(dir.length));
    }
  }
  return found;
}

/** For a chroot store: the store path a physical file name (`ROOT/nix/store/…`) lies in. */
function physicalToLogical(target: string, layout: StoreLayout): string | undefined {
  if (layout.realStoreDir === layout.storeDir || !target.startsWith(`${layout.realStoreDir}/`)) return undefined;
  return storePathOf(layout.storeDir + target.slice(layout.realStoreDir.length), layout.storeDir);
}

function readLinkOrNothing(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    // Gone (the process exited), not ours to read, or not a link: nothing held there.
    return undefined;
  }
}

function readFileOrNothing(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

/**
 * Store paths in use by running processes: their executables, working directories, open
 * files, mapped files and environments, plus the kernel's helper programs.
 */
export function findRuntimeRoots(layout: StoreLayout, db: StoreDatabase, roots: Roots, options: FindRootsOptions = {}): void {
  const unchecked = new Map<string, Set<string>>();
  const note = (storePath: string, link: string): void => {
    let links = unchecked.get(storePath);
    if (links === undefined) unchecked.set(storePath, (links = new Set()));
    links.add(link);
  };
  const noteLink = (link: string): void => {
    const target = readLinkOrNothing(link);
    if (target === undefined) return;
    const storePath = storePathOf(target, layout.storeDir) ?? physicalToLogical(target, layout);
    if (storePath !== undefined) note(storePath, link);
  };
  const noteText = (file: string): void => {
    const text = readFileOrNothing(file);
    if (text !== undefined) for (const storePath of storePathsIn(text, layout)) note(storePath, file);
  };
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return; // no /proc: no runtime roots to find
  }
  for (const pid of pids) {
    // This process too, as nix: run from the store (a node installed by nix), it keeps that.
    const base = `/proc/${pid}`;
    noteLink(`${base}/exe`);
    noteLink(`${base}/cwd`);
    let fds: string[] = [];
    try {
      fds = readdirSync(`${base}/fd`);
    } catch {
      // Exited, or not ours to look at.
    }
    for (const fd of fds) noteLink(`${base}/fd/${fd}`);
    noteText(`${base}/maps`);
    noteText(`${base}/environ`);
  }
  for (const file of ['/proc/sys/kernel/modprobe', '/proc/sys/kernel/fbsplash', '/proc/sys/kernel/poweroff_cmd']) noteText(file);
  for (const [storePath, links] of unchecked) {
    if (!isValidPath(db, storePath)) continue;
    for (const link of options.censor ? [CENSORED] : links) addRoot(roots, storePath, link);
  }
}

/**
 * The temp roots of live tsnix and nix processes, as `{temp:PID}` links; valid or not, as nix
 * lists them (a path being built is a temp root before it is valid).
 */
export function findTempRoots(layout: StoreLayout, roots: Roots, options: FindRootsOptions = {}): void {
  for (const [pid, paths] of readTempRoots(layout)) {
    for (const path of paths) {
      if (storePathOf(path, layout.storeDir) !== path) continue;
      addRoot(roots, path, options.censor ? CENSORED : `{temp:${pid}}`);
    }
  }
}

/** The roots as `[link, store path]` pairs sorted by link, as `--print-roots` lists them. */
export function rootLinks(roots: Roots): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [target, links] of roots) for (const link of links) pairs.push([link, target]);
  return pairs.sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0));
}

/** Every root: what `--gc --print-roots` lists and what `-q --roots` searches. */
export function findRoots(layout: StoreLayout, db: StoreDatabase, options: FindRootsOptions = {}): Roots {
  const roots: Roots = new Map();
  // One read transaction for the thousands of validity checks (each alone locks and unlocks).
  db.sqlite.transaction(() => {
    findLinkRoots(layout, db, roots, options);
    findRuntimeRoots(layout, db, roots, options);
    findTempRoots(layout, roots, options);
  })();
  return roots;
}

/**
 * Registers `link` (an absolute path outside the store, normally a symlink into it) as an
 * indirect root: `gcroots/auto/<nix32 sha1 of the link's path>` points at it, as nix names it.
 */
export function addIndirectRoot(layout: StoreLayout, link: string): void {
  const auto = `${layout.gcRootsDir}/auto`;
  mkdirSync(auto, { recursive: true });
  replaceSymlink(link, `${auto}/${encodeNix32(createHash('sha1').update(link).digest())}`);
}

/** A symlink made under a temporary name and renamed over `path`, so it is never missing or half made. */
export function replaceSymlink(target: string, path: string): void {
  const temporary = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  symlinkSync(target, temporary);
  try {
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}
