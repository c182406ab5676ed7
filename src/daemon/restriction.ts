/**
 * What a recursive build (recursive-nix) may see through its store: its input closure and
 * whatever it added or built through that store since, with their closures. Anything else is
 * "not valid" to it, as if the store did not hold it; nothing it adds or builds may lead to
 * such a path (a reference, an input of a derivation).
 */
import { readFileSync } from 'node:fs';
import { parseDerivation, type Derivation } from '../format/derivation/index.js';
import { isDerivationPath } from '../format/storePath.js';
import { computeClosure } from '../store/closure.js';
import type { LocalStore } from '../store/localStore.js';
import { queryPathInfo } from '../store/queryPathInfo.js';
import { readDerivation } from '../store/readDerivation.js';
import type { ValidPathInfo } from '../store/pathInfo.js';

/** A recursive build asked for something it may not see. */
export class RestrictedPathError extends Error {
  override name = 'RestrictedPathError';
}

export class PathRestriction {
  /** Paths added or built through the store (and their closures), not in the input closure. */
  readonly added = new Set<string>();
  /** One reveal at a time: two requests must not mount the same path twice. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: LocalStore,
    private readonly inputClosure: ReadonlySet<string>,
    /** Makes new paths appear in the build's sandbox. */
    private readonly materialise: (paths: readonly string[]) => Promise<void>,
  ) {}

  allows(path: string): boolean {
    return this.inputClosure.has(path) || this.added.has(path);
  }

  /** Refuses a path added with a reference the build cannot see: it would reach that path through it. */
  checkReferences(path: string, references: readonly string[]): void {
    const hidden = references.find((r) => r !== path && !this.allows(r));
    if (hidden !== undefined) throw new RestrictedPathError(`cannot add '${path}' in recursive Nix: it refers to the unknown path '${hidden}'`);
  }

  /**
   * Refuses a derivation (the file `file` about to become `path`) whose inputs are not among
   * its references: building it would bind paths the build cannot see into the builder's.
   */
  checkDerivationFile(path: string, file: string, references: readonly string[]): void {
    if (!isDerivationPath(path)) return;
    let drv: Derivation;
    try {
      drv = parseDerivation(readFileSync(file), path);
    } catch {
      return; // not a derivation after all: nothing will build it
    }
    const refs = new Set(references);
    const missing = [...drv.inputSrcs, ...drv.inputDrvs.keys()].find((input) => !refs.has(input));
    if (missing !== undefined) throw new RestrictedPathError(`cannot add '${path}' in recursive Nix: its input '${missing}' is not among its references`);
  }

  /** Refuses to build what the build cannot see, or what would reach beyond that, in Nix's words. */
  checkBuildable(path: string): void {
    if (!this.allows(path)) throw new RestrictedPathError(`cannot build '${path}' in recursive Nix because path is unknown`);
    if (!isDerivationPath(path)) return;
    // Every derivation it needs, every source: the build would bind them into its builder.
    const stack = [path];
    const seen = new Set<string>();
    while (stack.length > 0) {
      const drvPath = stack.pop()!;
      if (seen.has(drvPath)) continue;
      seen.add(drvPath);
      const drv = readDerivation(this.store, drvPath);
      if (drv.env.get('__noChroot') === '1') throw new RestrictedPathError(`cannot build '${drvPath}' in recursive Nix: it asks to be built outside the sandbox`);
      for (const input of [...drv.inputSrcs, ...drv.inputDrvs.keys()]) {
        if (!this.allows(input)) throw new RestrictedPathError(`cannot build '${path}' in recursive Nix because path '${input}' is unknown`);
      }
      stack.push(...drv.inputDrvs.keys());
    }
  }

  /**
   * A path the client sent whole (a NAR) that was valid already: it proved to know the content
   * (its NAR has the hash on record), so it may see it, if it may see what it refers to.
   */
  checkKnownPath(sent: ValidPathInfo): void {
    if (this.allows(sent.path)) return;
    const info = queryPathInfo(this.store.db, sent.path);
    if (!info) return;
    if (!info.narHash.equals(sent.narHash) || info.references.some((r) => r !== sent.path && !this.allows(r))) {
      throw new RestrictedPathError(`cannot add '${sent.path}' in recursive Nix: a different path of that name is in the store`);
    }
  }

  /**
   * Lets the build see `paths` (valid now) and their closures: new ones appear in its sandbox
   * at once, and stay rooted for as long as the build's request lasts (its outputs may refer
   * to them).
   */
  add(paths: readonly string[]): Promise<void> {
    const next = this.queue.then(async () => {
      const fresh = [...computeClosure(this.store.db, [...paths])].filter((p) => !this.allows(p));
      if (fresh.length === 0) return;
      for (const path of fresh) await this.store.addTempRoot(path);
      await this.materialise(fresh);
      for (const path of fresh) this.added.add(path);
    });
    this.queue = next.catch(() => undefined);
    return next;
  }
}
