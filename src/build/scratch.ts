/**
 * Where a second build of valid outputs goes (`--check`, `--repair`): never over the valid
 * paths themselves. With the sandbox the builder still sees its outputs at their logical paths
 * (the sandbox's own store directory) and they are copied out to a private temporary directory
 * in the store. Without one, the builder writes to stand-in store paths of the same length,
 * with the hash part of every rebuilt output rewritten in its environment and arguments; its
 * results are then rewritten back into the temporary directory, so they are byte-comparable
 * with the originals (Nix's hash rewriting from before it had a sandbox).
 */
import { join } from 'node:path';
import { Hash } from '../format/hash.js';
import { rewriteHashesInBuffer, type HashRewrites } from '../format/hashRewrite.js';
import { makeStorePath, parseStorePath } from '../format/storePath.js';
import { canonicalisePath } from '../store/canonicalise.js';
import { deletePathSync } from '../store/deletePath.js';
import type { LocalStore } from '../store/localStore.js';
import { TempDir } from '../store/tempPath.js';
import { BuildError } from './errors.js';
import { rewriteOutputTree } from './rewriteOutput.js';

/** Nix's stand-in for an output being rebuilt without a sandbox: same name, same length. */
export function standInPath(drvPath: string, outputName: string, outputPath: string, storeDir: string): string {
  const name = outputPath.slice(outputPath.lastIndexOf('/') + 34);
  return makeStorePath(`rewrite:${drvPath}:name:${outputName}`, new Hash('sha256', Buffer.alloc(32)), name, storeDir);
}

export class Scratch {
  /** Logical path -> stand-in (builds without a sandbox only). */
  readonly standIns = new Map<string, string>();

  private constructor(
    private readonly store: LocalStore,
    readonly temp: TempDir,
    readonly sandboxed: boolean,
  ) {}

  static async create(store: LocalStore, drvPath: string, outputs: ReadonlyMap<string, string>, sandboxed: boolean): Promise<Scratch> {
    const scratch = new Scratch(store, await TempDir.create(store.layout, 'rebuild', store.onWait), sandboxed);
    if (!sandboxed) {
      for (const [name, path] of outputs) {
        const standIn = standInPath(drvPath, name, path, store.storeDir);
        scratch.standIns.set(path, standIn);
        // Left over from an interrupted rebuild: nobody else uses these names.
        deletePathSync(store.layout.toReal(standIn));
      }
    }
    return scratch;
  }

  /** Where output `name` ends up, comparable with the original. */
  location(name: string): string {
    return join(this.temp.path, `out-${name}`);
  }

  private rewrites(back: boolean): HashRewrites {
    const hashPart = (path: string): string => parseStorePath(path, this.store.storeDir).hashPart;
    return new Map([...this.standIns].map(([real, standIn]) => (back ? [hashPart(standIn), hashPart(real)] : [hashPart(real), hashPart(standIn)])));
  }

  /** A string of the derivation as the builder of a stand-in build must see it. */
  rewrite(text: string): string {
    if (this.standIns.size === 0) return text;
    return rewriteHashesInBuffer(Buffer.from(text, 'utf8'), this.rewrites(false)).toString('utf8');
  }

  /** The output paths the builder is given. */
  outputsForBuilder(outputs: ReadonlyMap<string, string>): Map<string, string> {
    return new Map([...outputs].map(([name, path]) => [name, this.standIns.get(path) ?? path]));
  }

  /**
   * Brings a stand-in output (at `builtAt`) back under its real hash into location(name). Its
   * ownership is checked first, as for any output built without a sandbox.
   */
  async collect(name: string, builtAt: string, buildUid: number | undefined): Promise<string> {
    if (this.sandboxed) return builtAt;
    try {
      canonicalisePath(builtAt, buildUid === undefined ? {} : { requireOwner: buildUid });
    } catch (error) {
      throw new BuildError(`output '${builtAt}' cannot be registered: ${(error as Error).message}`, 'build');
    }
    await rewriteOutputTree(builtAt, this.location(name), this.rewrites(true));
    deletePathSync(builtAt);
    return this.location(name);
  }

  remove(): void {
    for (const standIn of this.standIns.values()) deletePathSync(this.store.layout.toReal(standIn));
    this.temp.remove();
  }
}
