/**
 * Which store paths the garbage collector must keep: everything a root reaches through
 * references, and with `keep-derivations` (default on) the derivation that made a live
 * output, with `keep-outputs` the outputs of a live derivation. The same edges read
 * backwards tell `--delete` and `-q --roots` what would keep a path alive.
 */
import { isDerivationPath } from '../format/storePath.js';
import type { StoreDatabase } from './database.js';
import { queryValidDerivers } from './derivers.js';

export interface KeepSettings {
  keepOutputs: boolean;
  keepDerivations: boolean;
}

/** The hash part of a store path or of a base name: what temp roots protect (and `P.lock` with P). */
export function hashPartOf(pathOrBaseName: string): string {
  const base = pathOrBaseName.slice(pathOrBaseName.lastIndexOf('/') + 1);
  return base.slice(0, 32);
}

export class LiveGraph {
  /**
   * `outputsMadeHere`: with keep-derivations, a derivation is kept by those of its outputs
   * registered as made by it (the collector, as nix's); without, by all its outputs (`-q
   * --roots`, as nix's closure query).
   */
  constructor(
    private readonly db: StoreDatabase,
    private readonly keep: KeepSettings,
    private readonly outputsMadeHere = true,
  ) {}

  private idOf(path: string): number | undefined {
    return (this.db.statement('select id from ValidPaths where path = ?').get(path) as { id: number } | undefined)?.id;
  }

  /** Valid paths that `path` keeps alive (its references and, by the settings, its deriver or outputs). */
  keeps(path: string): string[] {
    const id = this.idOf(path);
    if (id === undefined) return [];
    const next = this.db.columnStatement('select path from Refs join ValidPaths on reference = id where referrer = ?').all(id) as string[];
    if (this.keep.keepDerivations) {
      const deriver = this.db
        .columnStatement(
          'select v.path from ValidPaths o join ValidPaths v on v.path = o.deriver join DerivationOutputs d on d.drv = v.id and d.path = o.path where o.id = ?',
        )
        .all(id) as string[];
      next.push(...deriver);
    }
    if (this.keep.keepOutputs && isDerivationPath(path)) {
      next.push(...(this.db.columnStatement('select v.path from DerivationOutputs d join ValidPaths v on v.path = d.path where d.drv = ?').all(id) as string[]));
    }
    return next;
  }

  /** Valid paths that would keep `path` alive if they were (the edges of `keeps`, reversed). */
  keptBy(path: string): string[] {
    const id = this.idOf(path);
    if (id === undefined) return [];
    const next = this.db.columnStatement('select path from Refs join ValidPaths on referrer = id where reference = ?').all(id) as string[];
    if (this.keep.keepDerivations && isDerivationPath(path)) {
      const outputs = this.outputsMadeHere
        ? this.db.columnStatement('select o.path from DerivationOutputs d join ValidPaths o on o.path = d.path where d.drv = ? and o.deriver = ?').all(id, path)
        : this.db.columnStatement('select o.path from DerivationOutputs d join ValidPaths o on o.path = d.path where d.drv = ?').all(id);
      next.push(...(outputs as string[]));
    }
    if (this.keep.keepOutputs) next.push(...queryValidDerivers(this.db, path));
    return next;
  }

  /** Adds to `into` everything reachable from `starts` along `edges`; returns what was new. */
  static reach(starts: Iterable<string>, edges: (path: string) => string[], into: Set<string>): string[] {
    const added: string[] = [];
    const pending = [...starts].filter((p) => !into.has(p));
    for (const p of pending) into.add(p);
    while (pending.length > 0) {
      const path = pending.pop()!;
      added.push(path);
      for (const next of edges(path)) {
        if (into.has(next)) continue;
        into.add(next);
        pending.push(next);
      }
    }
    return added;
  }
}
