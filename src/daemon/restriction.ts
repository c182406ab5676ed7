/**
 * What a recursive build (recursive-nix) may see through its store: its input closure and
 * whatever it added or built through that store since, with their closures. Anything else is
 * "not valid" to it, as if the store did not hold it.
 */
import { computeClosure } from '../store/closure.js';
import type { LocalStore } from '../store/localStore.js';

/** A recursive build asked for something it may not see. */
export class RestrictedPathError extends Error {
  override name = 'RestrictedPathError';
}

export class PathRestriction {
  /** Paths added or built through the store (and their closures), not in the input closure. */
  readonly added = new Set<string>();

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

  /** Refuses to build (or fetch) what the build cannot see, in Nix's words. */
  checkBuildable(path: string): void {
    if (!this.allows(path)) throw new RestrictedPathError(`cannot build '${path}' in recursive Nix because path is unknown`);
  }

  /** Lets the build see `paths` (valid now) and their closures; new ones appear in its sandbox at once. */
  async add(paths: readonly string[]): Promise<void> {
    const fresh = [...computeClosure(this.store.db, [...paths])].filter((p) => !this.allows(p));
    if (fresh.length === 0) return;
    await this.materialise(fresh);
    for (const path of fresh) this.added.add(path);
  }
}
