/**
 * restorePath: unpacks a NAR into `target` (which must not exist) while hashing the exact
 * NAR bytes as they are consumed, so the caller gets narHash/narSize without a second pass.
 *
 * Safety: every entry is created relative to its parent directory's fd (see AtDirectory),
 * with calls that fail on an existing name and never follow a final symlink, and the parser
 * rejects duplicate or unsorted names. So a NAR cannot write through a symlink it planted
 * (CVE-2024-45593: a symlink entry, then a directory of the same name, then files in it).
 *
 * Modes are the store's by default: files 0444 or 0555, directories 0555. A directory is
 * created 0700 and made 0555 only after its last entry is written (a read-only directory
 * cannot be filled); a file is made read-only after its contents are written. On an error the partial tree stays in `target` for the caller to delete; nothing
 * is ever created outside it. Timestamps and ownership are left to canonicalisation.
 */
import { basename, dirname, resolve } from 'node:path';
import { closeSync, fchmodSync, fstatSync, futimesSync, writeSync } from 'node:fs';
import { NarFormatError } from '../../format/errors.js';
import type { Hash } from '../../format/hash.js';
import { CaseHackRenamer } from '../../format/nar/caseHack.js';
import { parseNar } from '../../format/nar/parse.js';
import { WireReader } from '../../format/wire.js';
import { AtDirectory, procFdAvailable } from './atDirectory.js';
import { NarRestoreError } from './errors.js';
import { NarHasher } from './narHasher.js';

export interface RestorePathOptions {
  /** Rename entries that differ only by case (Nix's `use-case-hack`; off on Linux). */
  useCaseHack?: boolean;
  /** Most nested directories, the root included (default 1024): one fd is open per level. */
  maxDepth?: number;
  /**
   * true (default): the store's modes, files 0444/0555 and directories 0555. false: what
   * `nix-store --restore` leaves, 0666/0777 minus the umask, plus x bits for executables.
   */
  storeModes?: boolean;
  /**
   * Set every entry's modification time to 1 (1970-01-01T00:00:01Z), as Nix does to store
   * paths (default: the same as storeModes). Done per entry through its open descriptor, so
   * adding a path needs no second walk over it.
   */
  canonicalTimes?: boolean;
  /**
   * Hash on another thread, overlapping hashing with writing (worth it for large NARs; the
   * thread starts only past a few megabytes). Default false.
   */
  hashOnThread?: boolean;
}

/** Nix's canonical modification time for everything in the store. */
const CANONICAL_MTIME = 1;

export interface RestoreResult {
  narHash: Hash;
  narSize: number;
}

export const DEFAULT_RESTORE_DEPTH = 1024;

interface OpenDirectory {
  directory: AtDirectory;
  renamer: CaseHackRenamer | undefined;
}

export async function restorePath(
  target: string,
  source: WireReader | AsyncIterable<Uint8Array>,
  opts: RestorePathOptions = {},
): Promise<RestoreResult> {
  if (!procFdAvailable()) throw new NarRestoreError(`cannot restore '${target}': /proc is not mounted (needed to create files relative to their directory)`);
  const ownsReader = !(source instanceof WireReader);
  const reader = source instanceof WireReader ? source : new WireReader(source, 'NAR');
  const hasher = new NarHasher(opts.hashOnThread ?? false);
  const previousTap = reader.onConsume;
  reader.onConsume = previousTap
    ? (bytes) => {
        previousTap(bytes);
        hasher.consume(bytes);
      }
    : hasher.consume;

  const storeModes = opts.storeModes ?? true;
  const canonicalTimes = opts.canonicalTimes ?? storeModes;
  const atime = Date.now() / 1000;
  const absolute = resolve(target);
  const root = AtDirectory.open(dirname(absolute));
  const open: OpenDirectory[] = [];
  let parent = root;
  let name: Buffer = Buffer.from(basename(absolute), 'utf8');
  try {
    for await (const event of parseNar(reader, { maxDepth: opts.maxDepth ?? DEFAULT_RESTORE_DEPTH })) {
      switch (event.type) {
        case 'entry': {
          const top = open[open.length - 1]!;
          parent = top.directory;
          name = top.renamer ? top.renamer.rename(event.name) : event.name;
          break;
        }
        case 'directory': {
          const directory = create(parent, name, open.length === 0 ? absolute : undefined, () => parent.mkdir(name, storeModes ? 0o700 : 0o777));
          open.push({ directory, renamer: opts.useCaseHack ? new CaseHackRenamer() : undefined });
          break;
        }
        case 'directoryEnd': {
          const { directory } = open.pop()!;
          if (storeModes) directory.chmod(0o555);
          if (canonicalTimes) directory.setTimes(atime, CANONICAL_MTIME);
          directory.close();
          break;
        }
        case 'symlink':
          create(parent, name, open.length === 0 ? absolute : undefined, () => parent.symlink(name, event.target));
          if (canonicalTimes) parent.setSymlinkTimes(name, atime, CANONICAL_MTIME);
          break;
        case 'regular': {
          const fd = create(parent, name, open.length === 0 ? absolute : undefined, () => parent.createFile(name, storeModes ? 0o600 : 0o666));
          try {
            for await (const chunk of event.contents) writeAll(fd, chunk);
            if (storeModes) fchmodSync(fd, event.executable ? 0o555 : 0o444);
            else if (event.executable) fchmodSync(fd, (fstatSync(fd).mode & 0o7777) | 0o111);
            if (canonicalTimes) futimesSync(fd, atime, CANONICAL_MTIME);
          } finally {
            closeSync(fd);
          }
          break;
        }
      }
    }
    if (ownsReader && !(await reader.atEnd())) {
      throw new NarFormatError(`invalid NAR at offset ${reader.position}: unexpected data after the end of the archive`);
    }
  } catch (e) {
    // A hashing thread waiting for bytes that will never come would keep the process alive.
    await hasher.abort();
    throw e;
  } finally {
    for (const { directory } of open) directory.close();
    root.close();
    reader.onConsume = previousTap;
  }
  return await hasher.finish();
}

/** Runs a create call, turning "the target exists" into the message a user needs. */
function create<T>(parent: AtDirectory, name: Buffer, target: string | undefined, make: () => T): T {
  try {
    return make();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if (target !== undefined) throw new NarRestoreError(`cannot restore to '${target}': it already exists`);
    throw new NarRestoreError(`cannot restore '${parent.displayName(name)}': an entry with that name already exists`);
  }
}

function writeAll(fd: number, chunk: Buffer): void {
  for (let written = 0; written < chunk.length; ) written += writeSync(fd, chunk, written);
}
