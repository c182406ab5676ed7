/**
 * The goal of one `.drv`: its outputs valid. It waits for the goals of its inputs (the used
 * outputs of input derivations, the input sources), then builds, unless every output is
 * valid already. Goals are shared through the scheduler, so a derivation needed by many
 * others (or by two requests) is built once.
 */
import { queryValidPaths } from '../../store/queryPathInfo.js';
import { readDerivation } from '../../store/readDerivation.js';
import { runBuild } from '../buildStep.js';
import { outputPathsOf, wantedOutputs } from '../drvOutputs.js';
import { isIntact } from '../intact.js';
import { BuildCancelledError, BuildError } from '../errors.js';
import type { GoalGraph } from './goalGraph.js';

/**
 * Waits for every input goal. A failed input is reported as nix reports it, even when the
 * failure also cancelled the rest; inputs cancelled by someone else's failure cancel this goal.
 */
async function awaitInputs(graph: GoalGraph, drvPath: string, waits: Promise<void>[]): Promise<void> {
  const settled = await Promise.allSettled(waits);
  const failed = settled.filter((s) => s.status === 'rejected' && !((s as PromiseRejectedResult).reason instanceof BuildCancelledError));
  if (failed.length > 0) throw new BuildError(`${failed.length} dependencies of derivation '${drvPath}' failed to build`, 'dependency');
  if (graph.ctx.signal.aborted || settled.some((s) => s.status === 'rejected')) throw new BuildCancelledError(drvPath);
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
  // Repair goes through the whole closure: the inputs' goals check (and repair) them too.
  const intact = mode === 'repair' ? await Promise.all([...outputs.values()].map((path) => isIntact(store, path))) : [];
  const inputs: string[] = [...drv.inputSrcs];
  const waits: Promise<void>[] = drv.inputSrcs.map((path) => graph.path(path));
  for (const [inputDrv, names] of drv.inputDrvs) {
    waits.push(graph.derivation(inputDrv));
    inputs.push(...wantedOutputs(store, inputDrv, names).map((o) => o.path));
  }
  await awaitInputs(graph, drvPath, waits);
  if (mode === 'repair') {
    if (intact.every(Boolean)) return;
    for (const [i, path] of [...outputs.values()].entries()) if (!intact[i]) graph.ctx.events.message(`repairing path '${path}'...`);
  }
  await runBuild(graph.ctx, { drvPath, drv, outputs, inputs, mode });
}
