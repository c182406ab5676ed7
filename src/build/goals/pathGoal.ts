/**
 * The goal of a store path that no derivation of this request produces (an input source, a
 * plain path given to `-r`): valid already, or fetched from a substituter.
 */
import { queryPathInfo, queryValidPaths } from '../../store/queryPathInfo.js';
import { isIntact } from '../intact.js';
import { BuildError } from '../errors.js';
import type { GoalGraph } from './goalGraph.js';

export async function runPathGoal(graph: GoalGraph, path: string): Promise<void> {
  const { store, events, signal } = graph.ctx;
  const repairing = graph.modeOf(path) === 'repair';
  // Rooted before it is looked at: a collector running meanwhile must not take it away.
  await store.addTempRoot(path);
  if (repairing ? await isIntact(store, path) : queryValidPaths(store.db, [path]).size > 0) return;
  if (repairing) {
    // Nix's repairPath rebuilds a damaged path by its deriver. (Replacing a valid path by a
    // substitute needs the binary-cache substituter, which comes with its own issue.)
    const deriver = queryPathInfo(store.db, path)?.deriver;
    if (deriver && queryValidPaths(store.db, [deriver]).size > 0 && graph.targets.has(path)) {
      events.message(`repairing path '${path}' by building '${deriver}'...`);
      return graph.derivation(deriver);
    }
    throw new BuildError(`cannot repair path '${path}': it is corrupt or missing, and it has no valid deriver to build it again`, 'other');
  }
  let lastFailure: Error | undefined;
  // A failure is a warning while another cache may still have the path; the last one is the error.
  const tell = (error: Error): void => {
    if (lastFailure) events.message(`warning: ${lastFailure.message}`);
    lastFailure = error;
  };
  for (const substituter of await graph.substituters()) {
    let info;
    try {
      info = (await substituter.query([path], signal)).get(path);
    } catch (error) {
      if (signal.aborted) throw error;
      tell(error as Error);
      continue;
    }
    if (!info) continue;
    try {
      // An untrusted substitute is no substitute: its references are not fetched for it.
      await substituter.vouch(path, signal);
    } catch (error) {
      if (signal.aborted) throw error;
      tell(error as Error);
      continue;
    }
    // Its references first: a path becomes valid only after everything it refers to.
    const references = info.references.filter((r) => r !== path);
    graph.waitFor(path, references);
    await Promise.all(references.map((r) => graph.path(r)));
    const release = await graph.ctx.substitutionJobs.acquire(signal);
    events.substitutionStarted(path, substituter.uri);
    let ok = false;
    try {
      await substituter.fetch(store, path, signal, (bytes) => events.downloaded(path, bytes));
      ok = true;
      return;
    } catch (error) {
      // A bad substitute (signature, hash, a broken download) is reported; the next cache may do better.
      if (signal.aborted) throw error;
      tell(error as Error);
    } finally {
      events.substitutionFinished(path, ok);
      release();
    }
  }
  if (lastFailure) throw new BuildError(`cannot substitute path '${path}': ${lastFailure.message}`, 'other');
  throw new BuildError(`path '${path}' is required, but there is no substituter that can build it`, 'other');
}
