/**
 * The goal of one `.drv`: its outputs valid. It waits for the goals of its inputs (the used
 * outputs of input derivations, the input sources), then builds, unless every output is
 * valid already. Goals are shared through the scheduler, so a derivation needed by many
 * others (or by two requests) is built once.
 */
import { queryValidPaths } from '../../store/queryPathInfo.js';
import { readDerivation } from '../../store/readDerivation.js';
import { substitutesAllowed } from '../substitutesAllowed.js';
import { repairBySubstitution } from './pathGoal.js';
import { runBuild, type BuildJob } from '../buildStep.js';
import type { Derivation } from '../../format/derivation/index.js';
import { outputPathsOf, wantedOutputs } from '../drvOutputs.js';
import { isIntact } from '../intact.js';
import { localBuildRefusal, requiredSystemFeatures } from '../canBuildLocally.js';
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

/**
 * Fetches `missing` when some cache has each of them. False when not all are to be had, or
 * when fetching failed and `--fallback` says to build instead.
 */
async function substituteOutputs(graph: GoalGraph, drvPath: string, missing: string[]): Promise<boolean> {
  const { signal, events, settings } = graph.ctx;
  const substituters = await graph.substituters();
  if (substituters.length === 0) return false;
  const available = new Set<string>();
  for (const substituter of substituters) {
    const wanted = missing.filter((p) => !available.has(p));
    if (wanted.length === 0) break;
    try {
      for (const path of (await substituter.query(wanted, signal)).keys()) {
        // As Nix: an output whose substitute is not trusted is built, with a warning.
        try {
          await substituter.vouch(path, signal);
          available.add(path);
        } catch (error) {
          if (signal.aborted) throw error;
          events.message(`warning: ignoring substitute for '${path}': ${(error as Error).message}`);
        }
      }
    } catch (error) {
      if (signal.aborted) throw error;
      events.message(`warning: ${(error as Error).message}`);
    }
  }
  if (available.size < missing.length) return false;
  try {
    await Promise.all(missing.map((path) => graph.substitute(path)));
    return true;
  } catch (error) {
    if (!settings.fallback || signal.aborted) throw error;
    events.message(`warning: substituting the outputs of '${drvPath}' failed; building it instead ('--fallback')`);
    return false;
  }
}

export async function runDerivationGoal(graph: GoalGraph, drvPath: string): Promise<void> {
  const { store } = graph.ctx;
  // Rooted before it is looked at: a collector running meanwhile must not take it away.
  await store.addTempRoot(drvPath);
  if (queryValidPaths(store.db, [drvPath]).size === 0) throw new BuildError(`cannot build missing derivation '${drvPath}'`, 'other');
  const drv = readDerivation(store, drvPath);
  const outputs = outputPathsOf(drvPath, drv);
  for (const path of outputs.values()) await store.addTempRoot(path);
  const mode = graph.modeOf(drvPath);
  if (mode === 'normal') {
    const valid = queryValidPaths(store.db, outputs.values());
    if (valid.size === outputs.size) return;
    // As Nix: outputs every one of which a cache has are fetched, not built (nor are the
    // inputs), unless the derivation says it is cheaper to build (allowSubstitutes = false).
    if (substitutesAllowed(drv, graph.ctx.settings.alwaysAllowSubstitutes) && (await substituteOutputs(graph, drvPath, [...outputs.values()].filter((p) => !valid.has(p))))) return;
  }
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
    // As Nix: damaged outputs are fetched again where a substituter has them; the rest built again.
    const tryCaches = substitutesAllowed(drv, graph.ctx.settings.alwaysAllowSubstitutes) && graph.ctx.substituters.length > 0;
    if (tryCaches) {
      const damaged = [...outputs.values()].filter((_, i) => !intact[i]);
      const fetched = await Promise.all(damaged.map((path) => repairBySubstitution(graph, path)));
      if (fetched.every(Boolean)) return;
    } else {
      for (const [i, path] of [...outputs.values()].entries()) if (!intact[i]) graph.ctx.events.message(`repairing path '${path}'...`);
    }
  }
  await buildJob(graph, { drvPath, drv, outputs, inputs, mode });
}

/** A plain build is shared with the other requests that need it; a check or repair is this request's own. */
async function buildJob(graph: GoalGraph, job: BuildJob): Promise<void> {
  const refusal = localBuildRefusal(job.drvPath, job.drv, graph.ctx.settings);
  // Only a plain build goes to another machine; a check or repair is done here.
  if (refusal && !(job.mode === 'normal' && graph.ctx.remote?.canBuild(job.drv, requiredSystemFeatures(job.drv)))) throw new BuildError(refusal, 'other');
  const { shared } = graph.ctx;
  if (shared && job.mode === 'normal') await shared.join(job.drvPath, graph.ctx, (ctx) => runBuild(ctx, job));
  else await runBuild(graph.ctx, job);
}

/**
 * The goal of a derivation given whole instead of by its `.drv` (the daemon's BuildDerivation,
 * the serve protocol's): no input derivations, its input sources are the whole input closure,
 * and its output paths are as given. True when it was built, false when its outputs were
 * valid already.
 */
export async function runGivenDerivationGoal(graph: GoalGraph, drvPath: string, drv: Derivation): Promise<boolean> {
  const { store } = graph.ctx;
  const outputs = new Map([...drv.outputs].map(([name, o]) => [name, o.path]));
  for (const path of outputs.values()) await store.addTempRoot(path);
  const mode = graph.modeOf(drvPath);
  if (mode === 'normal' && queryValidPaths(store.db, outputs.values()).size === outputs.size) return false;
  await awaitInputs(
    graph,
    drvPath,
    drv.inputSrcs.map((path) => graph.path(path)),
  );
  await buildJob(graph, { drvPath, drv, outputs, inputs: drv.inputSrcs, mode });
  return true;
}
