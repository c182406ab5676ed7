/**
 * The goal of one `.drv`: its outputs valid. It waits for the goals of its inputs (the used
 * outputs of input derivations, the input sources), then builds, unless every output is
 * valid already. Goals are shared through the scheduler, so a derivation needed by many
 * others (or by two requests) is built once.
 */
import type { Derivation } from '../../format/derivation/index.js';
import { queryDerivationOutputs } from '../../store/derivers.js';
import { queryValidPaths } from '../../store/queryPathInfo.js';
import { readDerivation } from '../../store/readDerivation.js';
import { runBuild } from '../buildStep.js';
import { isIntact } from '../intact.js';
import { BuildCancelledError, BuildError } from '../errors.js';
import type { GoalGraph } from './goalGraph.js';

/** Output name -> logical path, for derivations whose outputs have fixed paths. */
export function outputPathsOf(drvPath: string, drv: Derivation): Map<string, string> {
  const outputs = new Map<string, string>();
  for (const [name, output] of drv.outputs) {
    if (output.path === '') throw new BuildError(`derivation '${drvPath}' has output '${name}' without a fixed path (content-addressed derivations are not supported)`, 'other');
    outputs.set(name, output.path);
  }
  return outputs;
}

/** The output paths of an input derivation that a user of it needs. */
function usedOutputs(graph: GoalGraph, inputDrv: string, names: readonly string[]): string[] {
  let known = queryDerivationOutputs(graph.ctx.store.db, inputDrv);
  if (names.some((n) => !known.has(n))) known = outputPathsOf(inputDrv, readDerivation(graph.ctx.store, inputDrv));
  return names.map((name) => {
    const path = known.get(name);
    if (path === undefined) throw new BuildError(`derivation '${inputDrv}' does not have wanted outputs '${name}'`, 'other');
    return path;
  });
}

export async function runDerivationGoal(graph: GoalGraph, drvPath: string): Promise<void> {
  const { store } = graph.ctx;
  if (queryValidPaths(store.db, [drvPath]).size === 0) throw new BuildError(`cannot build missing derivation '${drvPath}'`, 'other');
  await store.addTempRoot(drvPath);
  const drv = readDerivation(store, drvPath);
  const outputs = outputPathsOf(drvPath, drv);
  for (const path of outputs.values()) await store.addTempRoot(path);
  const mode = graph.modeOf(drvPath);
  if (mode === 'normal' && queryValidPaths(store.db, outputs.values()).size === outputs.size) return;
  if (mode === 'repair') {
    const intact = await Promise.all([...outputs.values()].map((path) => isIntact(store, path)));
    if (intact.every(Boolean)) {
      await Promise.all(drv.inputSrcs.map((path) => graph.path(path)));
      await Promise.all([...drv.inputDrvs.keys()].map((d) => graph.derivation(d)));
      return;
    }
    for (const [i, path] of [...outputs.values()].entries()) if (!intact[i]) graph.ctx.events.message(`repairing path '${path}'...`);
  }

  const inputs: string[] = [...drv.inputSrcs];
  const waits: Promise<void>[] = drv.inputSrcs.map((path) => graph.path(path));
  for (const [inputDrv, names] of drv.inputDrvs) {
    waits.push(graph.derivation(inputDrv));
    inputs.push(...usedOutputs(graph, inputDrv, names));
  }
  const settled = await Promise.allSettled(waits);
  // Failed inputs are reported as nix does, even when the failure also cancelled the rest.
  const failed = settled.filter((s) => s.status === 'rejected' && !((s as PromiseRejectedResult).reason instanceof BuildCancelledError));
  if (failed.length > 0) throw new BuildError(`${failed.length} dependencies of derivation '${drvPath}' failed to build`, 'dependency');
  if (graph.ctx.signal.aborted || settled.some((s) => s.status === 'rejected')) throw new BuildCancelledError(drvPath);
  await runBuild(graph.ctx, { drvPath, drv, outputs, inputs, mode });
}
