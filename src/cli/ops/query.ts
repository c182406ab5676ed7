/** `-q`: the queries of nix-store, printed as nix-store prints them. */
import { isDerivationPath } from '../../format/storePath.js';
import { computeClosure, topoSortPaths } from '../../store/closure.js';
import { closureWithOutputs } from '../../store/closureWithOutputs.js';
import type { LocalStore } from '../../store/localStore.js';
import { isValidPath, requirePathInfo } from '../../store/queryPathInfo.js';
import { readDerivation } from '../../store/readDerivation.js';
import { queryReferences, queryReferrers } from '../../store/references.js';
import { PathNotValidError } from '../../store/dbErrors.js';
import type { ParsedArgs } from '../args.js';
import { followLinksToStorePath } from '../followLinks.js';
import { printLines } from '../output.js';
import { renderGraph, renderTree } from './queryGraphs.js';
import { LiveGraph } from '../../store/liveness.js';
import { findRoots } from '../../store/roots.js';

/** A query that cannot be answered for a path (not a derivation, no such binding). */
export class QueryError extends Error {
  override name = 'QueryError';
}

/** For `-b`: a derivation stands for itself, an output for the derivation that made it. */
function derivationOf(store: LocalStore, path: string): string {
  if (isDerivationPath(path)) return path;
  const deriver = requirePathInfo(store.db, path).deriver;
  if (deriver === undefined) throw new QueryError(`deriver of path '${path}' is not known`);
  if (!isValidPath(store.db, deriver)) throw new PathNotValidError(deriver);
  return deriver;
}

/** A derivation's output paths (sorted), or the path itself. */
function outputsOf(store: LocalStore, path: string, useOutput: boolean): string[] {
  if (!useOutput || !isDerivationPath(path)) return [path];
  const outputs = [...readDerivation(store, path).outputs.entries()];
  const floating = outputs.find(([, o]) => o.path === '');
  if (floating) throw new QueryError(`output '${floating[0]}' of derivation '${path}' has no known path (a floating content-addressed output)`);
  return [...new Set(outputs.map(([, o]) => o.path))].sort();
}

export function opQuery(store: LocalStore, parsed: ParsedArgs): number {
  const args = parsed.args.map((a) => followLinksToStorePath(a, store.storeDir));
  const targets = (useOutput: boolean): string[] => args.flatMap((p) => outputsOf(store, p, useOutput));
  const db = store.db;
  switch (parsed.query) {
    case 'outputs':
      printLines(targets(true));
      return 0;
    case 'requisites':
    case 'references':
    case 'referrers':
    case 'referrers-closure': {
      const paths = new Set<string>();
      for (const p of targets(parsed.useOutput)) {
        // Referrers of a path that is not valid are none, as nix-store answers.
        if (parsed.query === 'referrers' || parsed.query === 'referrers-closure') {
          if (!isValidPath(db, p)) continue;
        } else {
          requirePathInfo(db, p);
        }
        const found =
          parsed.query === 'requisites'
            ? closureWithOutputs(store.db, [p], parsed.includeOutputs)
            : parsed.query === 'references'
              ? queryReferences(db, p)
              : parsed.query === 'referrers'
                ? queryReferrers(db, p)
                : computeClosure(db, [p], { reverse: true });
        for (const f of found) paths.add(f);
      }
      printLines(topoSortPaths(db, paths));
      return 0;
    }
    // nix-store ignores --use-output for --deriver and --tree.
    case 'deriver':
      printLines(args.map((p) => requirePathInfo(db, p).deriver ?? 'unknown-deriver'));
      return 0;
    case 'hash':
      printLines(targets(parsed.useOutput).map((p) => requirePathInfo(db, p).narHash.format('nix32')));
      return 0;
    case 'size':
      printLines(targets(parsed.useOutput).map((p) => String(requirePathInfo(db, p).narSize)));
      return 0;
    case 'tree':
      printLines(renderTree(args, (p) => queryReferences(db, p)));
      return 0;
    case 'graph':
      printLines(renderGraph([...new Set(targets(parsed.useOutput))], (p) => queryReferences(db, p)));
      return 0;
    case 'roots': {
      // What keeps the arguments alive: roots anywhere in their referrers' closure, with the
      // edges keep-outputs and keep-derivations add, as the collector sees them.
      const graph = new LiveGraph(db, { keepOutputs: store.settings.bool('keep-outputs'), keepDerivations: store.settings.bool('keep-derivations') }, false);
      const keepers = new Set<string>();
      LiveGraph.reach(targets(parsed.useOutput), (p) => graph.keptBy(p), keepers);
      const roots = findRoots(store.layout, db, { info: (m) => process.stderr.write(`${m}\n`) });
      const lines: string[] = [];
      for (const target of [...roots.keys()].sort()) {
        if (!keepers.has(target)) continue;
        for (const link of [...roots.get(target)!].sort()) lines.push(`${link} -> ${target}`);
      }
      printLines(lines);
      return 0;
    }
    case 'binding': {
      const name = parsed.binding!;
      for (const arg of args) {
        const p = derivationOf(store, arg);
        const value = readDerivation(store, p).env.get(name);
        if (value === undefined) throw new QueryError(`derivation '${p}' has no environment binding named '${name}'`);
        printLines([value]);
      }
      return 0;
    }
  }
}
