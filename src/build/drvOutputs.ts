/** The output paths of a derivation in the store: what a build must make valid, what a user of it needs. */
import type { Derivation } from '../format/derivation/index.js';
import { queryDerivationOutputs } from '../store/derivers.js';
import type { LocalStore } from '../store/localStore.js';
import { readDerivation } from '../store/readDerivation.js';
import { BuildError } from './errors.js';

/** Output name -> logical path, for derivations whose outputs have fixed paths. */
export function outputPathsOf(drvPath: string, drv: Derivation): Map<string, string> {
  const outputs = new Map<string, string>();
  for (const [name, output] of drv.outputs) {
    if (output.path === '') throw new BuildError(`derivation '${drvPath}' has output '${name}' without a fixed path (content-addressed derivations are not supported)`, 'other');
    outputs.set(name, output.path);
  }
  return outputs;
}

/**
 * The outputs `names` of a valid `.drv` (default: all, by name), from the database's
 * DerivationOutputs rows, or from the file when the rows lack one; nix's error for a name
 * the derivation does not have.
 */
export function wantedOutputs(store: LocalStore, drvPath: string, names?: readonly string[]): { name: string; path: string }[] {
  let known = queryDerivationOutputs(store.db, drvPath);
  if (known.size === 0 || (names ?? []).some((n) => !known.has(n))) known = outputPathsOf(drvPath, readDerivation(store, drvPath));
  if (!names) return [...known].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, path]) => ({ name, path }));
  return names.map((name) => {
    const path = known.get(name);
    if (path === undefined) throw new BuildError(`derivation '${drvPath}' does not have wanted outputs '${name}'`, 'other');
    return { name, path };
  });
}
