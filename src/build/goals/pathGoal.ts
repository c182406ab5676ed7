/**
 * The goal of a store path that no derivation of this request produces (an input source, a
 * plain path given to `-r`): valid already, or fetched from a substituter.
 */
import { queryPathInfo, queryValidPaths } from '../../store/queryPathInfo.js';
import { isIntact } from '../intact.js';
import { BuildError } from '../errors.js';
import type { FetchedPath } from '../substituter.js';
import type { GoalGraph } from './goalGraph.js';

export async function runPathGoal(graph: GoalGraph, path: string): Promise<void> {
  const { store, events } = graph.ctx;
  const repairing = graph.modeOf(path) === 'repair';
  // Rooted before it is looked at: a collector running meanwhile must not take it away.
  await store.addTempRoot(path);
  if (repairing ? await isIntact(store, path) : queryValidPaths(store.db, [path]).size > 0) return;
  if (!repairing) return substitute(graph, path, false);
  // As Nix's repairPath: fetched again from a substituter that has it, else built again by
  // its deriver.
  if (await repairBySubstitution(graph, path)) return;
  const deriver = queryPathInfo(store.db, path)?.deriver;
  if (deriver && queryValidPaths(store.db, [deriver]).size > 0 && graph.targets.has(path)) {
    events.message(`repairing path '${path}' by building '${deriver}'...`);
    return graph.derivation(deriver);
  }
  throw new BuildError(`cannot repair path '${path}': it is corrupt or missing, and no substituter has it nor has it a valid deriver to build it again`, 'other');
}

/**
 * Fetches the valid but damaged `path` again and puts it in place; false when no
 * substituter has it, or the one that has it failed (said as a warning).
 */
export async function repairBySubstitution(graph: GoalGraph, path: string): Promise<boolean> {
  const { store, events, signal } = graph.ctx;
  if (queryValidPaths(store.db, [path]).size === 0 || graph.ctx.substituters.length === 0) return false;
  try {
    events.message(`repairing path '${path}'...`);
    await substitute(graph, path, true);
    return true;
  } catch (error) {
    if (signal.aborted) throw error;
    if (!(error instanceof NoSubstituteError)) events.message(`warning: ${(error as Error).message}`);
    return false;
  }
}

/** No substituter has the path (as opposed to one that has it and failed). */
class NoSubstituteError extends BuildError {
  override name = 'NoSubstituteError';
}

/**
 * Fetches `path` from the first substituter that has it and can deliver it; with `repair`,
 * in place of the valid but damaged path.
 */
async function substitute(graph: GoalGraph, path: string, repair: boolean): Promise<void> {
  const { store, events, signal } = graph.ctx;
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
    // Its references are valid before it: it is downloaded meanwhile, but made valid only
    // after everything it refers to. (Downloads do not wait for the references: a closure's
    // paths all come down at once, up to the job slots, not a level of it at a time.)
    const references = info.references.filter((r) => r !== path);
    graph.waitFor(path, references);
    const referencesValid = Promise.all(references.map((r) => graph.path(r)));
    // Seen below, after the download; a failure meanwhile is not unhandled.
    referencesValid.catch(() => {});
    // A job slot is a download: it is handed on with the last byte, while the path is
    // unpacked, checked and registered (measured: ~5 ms of decompression, disk and database
    // work a path, which the next 100 ms round trip to a cache need not wait for).
    const slot = await graph.ctx.substitutionJobs.acquire(signal);
    let released = false;
    const release = (): void => {
      if (!released) slot();
      released = true;
    };
    events.substitutionStarted(path, substituter.uri);
    let fetched: FetchedPath;
    try {
      fetched = await substituter.fetch(store, path, signal, (bytes) => events.downloaded(path, bytes), release);
    } catch (error) {
      events.substitutionFinished(path, false);
      // A bad substitute (signature, hash, a broken download) is reported; the next cache may do better.
      if (signal.aborted) throw error;
      tell(error as Error);
      continue;
    } finally {
      release();
    }
    let ok = false;
    try {
      await referencesValid;
      // Noted before it is valid: a plan still being worked out lists it as fetched, not as there.
      graph.substituted.add(path);
      await (repair ? fetched.replace() : fetched.commit());
      ok = true;
      return;
    } finally {
      if (!ok) fetched.discard();
      events.substitutionFinished(path, ok);
    }
  }
  if (lastFailure) throw new BuildError(`cannot substitute path '${path}': ${lastFailure.message}`, 'other');
  throw new NoSubstituteError(`path '${path}' is required, but there is no substituter that can build it`, 'other');
}
