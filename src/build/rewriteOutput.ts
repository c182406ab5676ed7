/**
 * rewriteOutputTree: a copy of a build output with store path hash parts rewritten in file
 * contents, symlink targets and entry names, for `--check`/`--repair` builds that ran at a
 * temporary store path of the same length (see format/hashRewrite.ts).
 *
 * The tree is dumped as a NAR, the stream rewritten and restored. That is exact because a
 * hash part in a NAR always lies inside one string (contents, name or target): the framing
 * around strings is lengths with zero high bytes and zero padding, never nix32 text.
 */
import { chmodSync, lstatSync, readdirSync, renameSync, utimesSync } from 'node:fs';
import { NarFormatError } from '../format/errors.js';
import { HashSink } from '../format/hash.js';
import { rewriteHashes, rewriteHashesInBuffer, type HashRewrites } from '../format/hashRewrite.js';
import { encodeNarLength, encodeNarString, NAR_FRAMES, narPadding, ZERO_PADDING } from '../format/nar/encode.js';
import { parseNar, type NarEvent } from '../format/nar/parse.js';
import { deletePathSync } from '../store/deletePath.js';
import { dumpPath, NarRestoreError, restorePath, type RestoreResult } from '../store/nar/index.js';
import { pathExists } from '../store/pathExists.js';

/** The copy cannot be made as asked (whatever was written at the target is of no use). */
export class OutputRewriteError extends Error {
  override name = 'OutputRewriteError';
}

/** The store's metadata: files 0444/0555, directories 0555, modification time 1. */
const RESTORE_AS_STORE = { storeModes: true, canonicalTimes: true } as const;
const CANONICAL_MTIME = 1;

/**
 * Writes at `to` (which must not exist) the tree at `from` with every hash part in
 * `rewrites` replaced, and returns the NAR hash and size of the result. The copy gets the
 * store's canonical metadata (files 0444, or 0555 when executable; directories 0555;
 * modification time 1), as a store path has: only the executable bit carries over, which
 * is all a NAR keeps, so the copy compares equal to a store path byte for byte.
 *
 * On failure a partial tree may be left at `to` for the caller to delete.
 */
export async function rewriteOutputTree(from: string, to: string, rewrites: HashRewrites): Promise<RestoreResult> {
  if (pathExists(to)) throw new OutputRewriteError(`cannot write the rewritten copy of '${from}' to '${to}': it already exists`);
  try {
    return await restorePath(to, rewriteHashes(dumpPath(from), rewrites), RESTORE_AS_STORE);
  } catch (err) {
    if (!reordersEntries(err)) throw err;
  }
  // A renamed entry sorts elsewhere among its siblings than the old name did (or lands on a
  // sibling's name), which a NAR cannot express. Rare: a name must contain a rewritten hash
  // part. So copy with the names kept, then rename in the copy.
  deletePathSync(to);
  await restorePath(to, rewriteAllButNames(parseNar(dumpPath(from)), rewrites), RESTORE_AS_STORE);
  renameEntries(from, to, rewrites);
  const hash = new HashSink('sha256');
  for await (const chunk of dumpPath(to, { reuseChunks: true })) hash.update(chunk);
  return { narHash: hash.finish(), narSize: hash.size };
}

/** Whether restoring failed on the order or uniqueness of the rewritten entry names. */
function reordersEntries(err: unknown): boolean {
  if (err instanceof NarFormatError) return /NAR directory is not sorted|duplicate entry name/.test(err.message);
  return err instanceof NarRestoreError && /an entry with that name already exists/.test(err.message);
}

/** The NAR of `events` again, with hash parts rewritten in contents and symlink targets only. */
async function* rewriteAllButNames(events: AsyncIterable<NarEvent>, rewrites: HashRewrites): AsyncGenerator<Uint8Array> {
  yield NAR_FRAMES.magic;
  /** For each open directory: whether it is an entry's node, whose entry closes after it. */
  const open: boolean[] = [];
  let inEntry = false;
  for await (const event of events) {
    switch (event.type) {
      case 'entry':
        yield Buffer.concat([NAR_FRAMES.entry, encodeNarString(event.name), NAR_FRAMES.node]);
        inEntry = true;
        break;
      case 'directory':
        yield NAR_FRAMES.directory;
        open.push(inEntry);
        inEntry = false;
        break;
      case 'directoryEnd':
        yield open.pop() ? Buffer.concat([NAR_FRAMES.close, NAR_FRAMES.close]) : NAR_FRAMES.close;
        break;
      case 'symlink':
        yield Buffer.concat([NAR_FRAMES.symlink, encodeNarString(rewriteHashesInBuffer(event.target, rewrites)), NAR_FRAMES.close]);
        if (inEntry) yield NAR_FRAMES.close;
        inEntry = false;
        break;
      case 'regular':
        yield Buffer.concat([event.executable ? NAR_FRAMES.executable : NAR_FRAMES.regular, encodeNarLength(event.size)]);
        yield* rewriteHashes(event.contents, rewrites);
        yield Buffer.concat([ZERO_PADDING.subarray(0, narPadding(event.size)), NAR_FRAMES.close]);
        if (inEntry) yield NAR_FRAMES.close;
        inEntry = false;
        break;
    }
  }
}

/**
 * Renames the entries of the copy at `root` whose names hold a rewritten hash part. The
 * copy is ours alone, so plain path calls are safe; each directory is made writable for the
 * renames and given back its canonical mode and time.
 */
function renameEntries(from: string, root: string, rewrites: HashRewrites): void {
  const directories: Buffer[] = [Buffer.from(root)];
  while (directories.length > 0) {
    const directory = directories.pop()!;
    const names = readdirSync(directory, { encoding: 'buffer' });
    const renames = names.map((name) => rewriteHashesInBuffer(name, rewrites)).map((renamed, i) => ({ name: names[i]!, renamed }));
    const changed = renames.filter(({ name, renamed }) => !name.equals(renamed));
    if (changed.length > 0) {
      chmodSync(directory, 0o755);
      for (const { name, renamed } of changed) {
        const target = Buffer.concat([directory, Buffer.from('/'), renamed]);
        if (pathExists(target) || names.some((other) => other.equals(renamed))) {
          throw new OutputRewriteError(
            `cannot rewrite the hash parts in '${from}': entry '${name.toString('utf8')}' would be renamed to '${renamed.toString('utf8')}', which is taken`,
          );
        }
        renameSync(Buffer.concat([directory, Buffer.from('/'), name]), target);
      }
      chmodSync(directory, 0o555);
      utimesSync(directory, Date.now() / 1000, CANONICAL_MTIME);
    }
    for (const { renamed } of renames) {
      const path = Buffer.concat([directory, Buffer.from('/'), renamed]);
      if (lstatSync(path).isDirectory()) directories.push(path);
    }
  }
}
