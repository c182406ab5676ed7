/**
 * What happens to a second build's outputs: `--check` compares them with the valid ones (and
 * with -K keeps them as `OUT.check`), `--repair` puts them in place of the valid ones.
 */
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { deletePathSync } from '../store/deletePath.js';
import { moveIntoPlace } from '../store/moveIntoPlace.js';
import { queryPathInfo } from '../store/queryPathInfo.js';
import { registerValidPaths } from '../store/registerPaths.js';
import type { BuildJob, BuiltResult } from './buildStep.js';
import type { BuildContext } from './context.js';
import { BuildError } from './errors.js';
import { describeDifferences } from './treeDiff.js';
import { pathExists } from '../store/pathExists.js';

/** How many differing files a failed --check lists. */
const DIFFERENCES_SHOWN = 10;

export async function compareOutputs(ctx: BuildContext, job: BuildJob, built: BuiltResult): Promise<void> {
  const { store } = ctx;
  const names = [...job.outputs.keys()].sort();
  for (const [i, name] of names.entries()) {
    const path = job.outputs.get(name)!;
    const before = queryPathInfo(store.db, path);
    const now = built.infos[i]!;
    if (before && before.narHash.equals(now.narHash)) continue;
    const real = store.layout.toReal(path);
    const second = built.locations.get(name)!;
    // Beyond nix: say where the two builds differ, so the cause can be found without diffoscope.
    const differences = pathExists(real) ? await describeDifferences(real, second, DIFFERENCES_SHOWN) : ['the valid output is missing from the store'];
    let message = `derivation '${job.drvPath}' may not be deterministic: output '${path}' differs`;
    if (ctx.settings.keepFailed) {
      const kept = `${real}.check`;
      deletePathSync(kept);
      renameSync(second, kept);
      message += ` from '${path}.check'`;
    }
    throw new BuildError(`${message}\n${differences.map((d) => `  ${d}`).join('\n')}`, 'checkMismatch');
  }
}

/**
 * Replaces each output by the new build and registers them all in one transaction. The window
 * in which an output path is absent is the time between two renames in one directory.
 */
export async function swapInOutputs(ctx: BuildContext, job: BuildJob, built: BuiltResult): Promise<void> {
  const { store } = ctx;
  const names = [...job.outputs.keys()].sort();
  // What was moved aside, to put back if a later step fails: the old outputs stay valid then.
  const swapped: { real: string; old: string; fresh: string }[] = [];
  try {
    for (const name of names) {
      const real = store.layout.toReal(job.outputs.get(name)!);
      const fresh = built.locations.get(name)!;
      if (fresh === real) continue;
      const old = join(fresh, '..', `old-${name}`);
      const hadOld = pathExists(real);
      if (hadOld) moveIntoPlace(real, old);
      try {
        moveIntoPlace(fresh, real);
      } catch (error) {
        if (hadOld) moveIntoPlace(old, real);
        throw error;
      }
      swapped.push({ real, old: hadOld ? old : '', fresh });
    }
    registerValidPaths(store.db, built.infos);
  } catch (error) {
    for (const { real, old, fresh } of swapped.reverse()) {
      moveIntoPlace(real, fresh);
      if (old) moveIntoPlace(old, real);
    }
    throw error;
  }
  for (const { old } of swapped) if (old) deletePathSync(old);
}
