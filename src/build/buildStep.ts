/**
 * One build of one derivation, once its inputs are valid: take a job slot and the output
 * locks, check again (another process may have built it meanwhile), clear garbage at the
 * output paths, run the builder in the sandbox, check and register the outputs in one
 * transaction. Nothing becomes valid before that transaction.
 */
import type { Derivation } from '../format/derivation/index.js';
import { drvNameFromPath } from '../format/derivation/index.js';
import { computeClosure } from '../store/closure.js';
import { deletePathSync } from '../store/deletePath.js';
import { PathLocks } from '../store/locks/pathLock.js';
import { queryValidPaths } from '../store/queryPathInfo.js';
import { registerValidPaths } from '../store/registerPaths.js';
import { BuildError } from './errors.js';
import { prepareOutputs } from './registerOutputs.js';
import { runSandboxedBuild, type BuilderStatus, type SandboxBuildResult } from './sandbox.js';
import type { BuildContext } from './context.js';

export interface BuildJob {
  drvPath: string;
  drv: Derivation;
  /** Output name -> logical path. */
  outputs: ReadonlyMap<string, string>;
  /** Logical paths the builder sees: input sources and the used outputs of input derivations. */
  inputs: readonly string[];
}

function statusError(drvPath: string, status: BuilderStatus): BuildError {
  switch (status.kind) {
    case 'exited':
      return new BuildError(`builder for '${drvPath}' failed with exit code ${status.code}`, 'build');
    case 'signaled':
      return new BuildError(`builder for '${drvPath}' failed due to signal ${status.signal}`, 'build');
    case 'timed-out':
      return new BuildError(`building of '${drvPath}!*' from .drv file timed out after ${status.seconds} seconds`, 'timeout');
    case 'silent':
      return new BuildError(`building of '${drvPath}!*' from .drv file timed out after ${status.seconds} seconds of silence`, 'timeout');
    case 'cancelled':
      return new BuildError(`build of '${drvPath}' was interrupted`, 'other');
  }
}

/** Locks the outputs, telling the user when another process holds them (as nix does). */
async function lockOutputs(ctx: BuildContext, paths: string[]): Promise<PathLocks> {
  const now = await PathLocks.tryLock(ctx.store.layout, paths);
  if (now) return now;
  return PathLocks.lock(ctx.store.layout, paths, { onWait: (m) => ctx.events.message(m), signal: ctx.signal });
}

/** Builds `job` unless its outputs became valid meanwhile. Throws BuildError on failure. */
export async function runBuild(ctx: BuildContext, job: BuildJob): Promise<void> {
  const { store } = ctx;
  const release = await ctx.jobs.acquire(ctx.signal);
  try {
    const outputPaths = [...job.outputs.values()];
    const locks = await lockOutputs(ctx, outputPaths);
    try {
      const valid = queryValidPaths(store.db, outputPaths);
      if (valid.size === outputPaths.length) return;
      if (valid.size > 0) {
        throw new BuildError(`some outputs of '${job.drvPath}' are valid and others are not (${[...valid].join(', ')} valid); rebuild them with '--repair'`, 'other');
      }
      // Whatever is at an invalid output path is left over from an interrupted build.
      for (const path of outputPaths) deletePathSync(store.layout.toReal(path));
      await buildLocked(ctx, job);
    } finally {
      locks.release();
    }
  } finally {
    release();
  }
}

async function buildLocked(ctx: BuildContext, job: BuildJob): Promise<void> {
  const { store } = ctx;
  const { drvPath, drv } = job;
  const inputClosure = computeClosure(store.db, job.inputs);
  ctx.events.buildStarted(drvPath, drvNameFromPath(drvPath));
  const log = ctx.openLog(drvPath);
  let succeeded = false;
  let result: SandboxBuildResult;
  try {
    result = await runSandboxedBuild({
      storeDir: store.layout.storeDir,
      realStoreDir: store.layout.realStoreDir,
      inputPaths: [...inputClosure],
      drv: {
        name: drvNameFromPath(drvPath),
        drvPath,
        builder: drv.builder,
        args: drv.args,
        env: Object.fromEntries(drv.env),
        outputs: Object.fromEntries(job.outputs),
        isFixedOutput: [...drv.outputs.values()].some((o) => o.hash !== ''),
      },
      settings: ctx.settings.sandbox,
      closureOf: (paths) => [...computeClosure(store.db, paths)],
      referenceGraph: (paths) => ctx.referenceGraph(paths),
      onLogLine: (line) => log.line(line),
      onWarning: (message) => ctx.events.message(`warning: ${message}`),
      signal: ctx.signal,
      keepBuildDir: ctx.settings.keepFailed,
      ...ctx.sandboxOverrides,
      ...(ctx.preBuildHook ? { preBuildHook: (dir: string | undefined) => ctx.preBuildHook!(drvPath, dir) } : {}),
    });
    if (result.status.kind !== 'exited' || result.status.code !== 0) {
      if (result.buildDir) ctx.events.message(`note: keeping build directory '${result.buildDir}'`);
      throw statusError(drvPath, result.status);
    }
    if (result.buildDir) deletePathSync(result.buildDir);
    const locations = new Map(Object.entries(result.outputs));
    const infos = await prepareOutputs(store, {
      drvPath,
      drv,
      outputs: job.outputs,
      locations,
      inputClosure,
      ...(result.sandboxed ? {} : { requireOwner: result.buildUid }),
    });
    registerValidPaths(store.db, infos);
    succeeded = true;
  } catch (error) {
    // A refused output must not stay at its path, where it would look like the real thing.
    for (const path of job.outputs.values()) deletePathSync(store.layout.toReal(path));
    throw error;
  } finally {
    await log.close();
    ctx.events.buildFinished(drvPath, succeeded);
  }
}
