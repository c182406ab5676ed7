/**
 * rewriteOutputTree: a copy of a build output with store path hash parts rewritten in file
 * contents, symlink targets and entry names, for `--check`/`--repair` builds that ran at a
 * temporary store path of the same length (see format/hashRewrite.ts).
 *
 * The tree is dumped as a NAR, the stream rewritten and restored. That is exact because a
 * hash part in a NAR always lies inside one string (contents, name or target): the framing
 * around strings is lengths with zero high bytes and zero padding, never nix32 text.
 */
import { NarFormatError } from '../format/errors.js';
import { rewriteHashes, type HashRewrites } from '../format/hashRewrite.js';
import { dumpPath, restorePath, type RestoreResult } from '../store/nar/index.js';

/** The copy cannot be made as asked (whatever was written at the target is of no use). */
export class OutputRewriteError extends Error {
  override name = 'OutputRewriteError';
}

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
  try {
    return await restorePath(to, rewriteHashes(dumpPath(from), rewrites), { storeModes: true, canonicalTimes: true });
  } catch (err) {
    // Renaming entries can change their byte order within a directory, which a NAR cannot
    // express; Nix's rewriting fails the same way. Rare: a name must contain a rewritten
    // hash part and have a sibling that sorts between the old and the new name.
    if (err instanceof NarFormatError && /not sorted|duplicate entry name/.test(err.message)) {
      throw new OutputRewriteError(
        `cannot rewrite the hash parts in '${from}': renaming its entries would reorder or merge them (${err.message}); build it in the sandbox instead`,
      );
    }
    throw err;
  }
}
