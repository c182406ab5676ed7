/**
 * One build of one derivation, once its inputs are valid: take a job slot and the output
 * locks, check again (another process may have built it meanwhile), clear garbage at the
 * output paths, run the builder in the sandbox, check and register the outputs in one
 * transaction. Nothing becomes valid before that transaction.
 */
import type { Derivation } from '../format/derivation/index.js';
import { drvNameFromPath } from '../format/derivation/index.js';
import { computeClosure } from '../store/closure.js';
import { autoOptimise } from '../store/optimise.js';
import { deletePathSync } from '../store/deletePath.js';
import { PathLocks } from '../store/locks/pathLock.js';
import { queryValidPaths } from '../store/queryPathInfo.js';
import { registerValidPaths } from '../store/registerPaths.js';
import { BuildError } from './errors.js';
import { filterLogLine } from './logFilter.js';
import { prepareOutputs } from './registerOutputs.js';
import type { ValidPathInfo } from '../store/pathInfo.js';
import { compareOutputs, swapInOutputs } from './rebuildResults.js';
import { runSandboxedBuild, shouldSandbox, type BuilderStatus, type RecursiveStoreStarter, type SandboxBuildResult, type SandboxDerivation } from './sandbox.js';
import { Scratch } from './scratch.js';
import type { BuildContext, RecursiveSession } from './context.js';
import { localBuildRefusal, prefersLocalBuild, requiredSystemFeatures } from './canBuildLocally.js';
import { buildRemotely } from './remote/buildRemotely.js';
import type { RemoteBuilders } from './remote/remoteBuilders.js';
import { ServeClientError } from '../remote/serveClient.js';

export interface BuildJob {
  drvPath: string;
  drv: Derivation;
  /** Output name -> logical path. */
  outputs: ReadonlyMap<string, string>;
  /** Logical paths the builder sees: input sources and the used outputs of input derivations. */
  inputs: readonly string[];
  mode: BuildMode;
}

/** `normal`: build what is not valid; `check`: build again and compare; `repair`: build again and replace. */
export type BuildMode = 'normal' | 'check' | 'repair';

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
    case 'log-limit':
      return new BuildError(`building of '${drvPath}!*' from .drv file killed after writing more than ${status.bytes} bytes of log output`, 'logLimit');
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

/**
 * Builds `job`. Normally only when its outputs are not valid (another process may have built
 * them while we waited for the lock); `check` builds valid outputs again and compares,
 * `repair` builds them again and puts the new ones in place. Throws BuildError on failure.
 */
export async function runBuild(ctx: BuildContext, job: BuildJob): Promise<void> {
  // A plain build goes to a machine of `builders` that can take it, if there is one, unless
  // the derivation prefers to be built here.
  const remote = ctx.remote && job.mode === 'normal' && !prefersLocalBuild(job.drvPath, job.drv, ctx.settings) ? ctx.remote : undefined;
  if (remote && (await buildOnSomeMachine(ctx, remote, job))) return;
  const { store } = ctx;
  const release = await ctx.jobs.acquire(ctx.signal);
  try {
    const outputPaths = [...job.outputs.values()];
    const locks = await lockOutputs(ctx, outputPaths);
    try {
      const valid = queryValidPaths(store.db, outputPaths);
      if (job.mode === 'check') {
        if (valid.size !== outputPaths.length) throw new BuildError(`some outputs of '${job.drvPath}' are not valid, so checking is not possible`, 'other');
        await rebuild(ctx, job, (built) => compareOutputs(ctx, job, built));
        return;
      }
      // Built by another process while we waited for the lock.
      if (job.mode === 'normal' && valid.size === outputPaths.length) return;
      // Whatever is at an invalid output path is left over from an interrupted build.
      for (const path of outputPaths) if (!valid.has(path)) deletePathSync(store.layout.toReal(path));
      if (job.mode === 'repair' || valid.size > 0) {
        // Valid outputs are replaced, never built over: a build may fail halfway.
        await rebuild(ctx, job, (built) => swapInOutputs(ctx, job, built));
        return;
      }
      await buildOnce(ctx, job, undefined, async (built) => {
        await autoOptimise(store, built.locations.values());
        registerValidPaths(store.db, built.infos);
      });
    } finally {
      locks.release();
    }
  } finally {
    release();
  }
}

/**
 * The store a derivation requiring `recursive-nix` gets (when that experimental feature is
 * on: otherwise the feature is not among the system features and the build was refused).
 */
function recursiveStarter(ctx: BuildContext, job: BuildJob, inputClosure: ReadonlySet<string>): { starter: RecursiveStoreStarter; added(): ReadonlySet<string> } | undefined {
  if (!requiredSystemFeatures(job.drv).includes('recursive-nix') || !ctx.settings.experimentalFeatures.has('recursive-nix')) return undefined;
  const server = ctx.recursive;
  if (!server) throw new BuildError(`'${job.drvPath}' requires a recursive store, which this command cannot serve`, 'other');
  let session: RecursiveSession | undefined;
  return {
    starter: {
      start: async (socketPath, owner, materialise) => {
        session = await server({ drvPath: job.drvPath, socketPath, owner, inputClosure, materialise, ctx });
        return session;
      },
    },
    added: () => session?.added ?? new Set(),
  };
}

/**
 * Builds `job` on the best machine that fits it, trying the next when one's connection
 * fails (that one is left alone for a while). False when it is to be built here: no machine
 * can build it (and this one may), or some of its outputs are valid already (a remote build
 * would replace them; here they are rebuilt beside and swapped in).
 */
async function buildOnSomeMachine(ctx: BuildContext, remote: RemoteBuilders, job: BuildJob): Promise<boolean> {
  const required = requiredSystemFeatures(job.drv);
  const hereRefused = (): string | undefined => (ctx.settings.maxJobs === 0 ? `unable to start any build; either increase '--max-jobs' or enable remote builds (no machine of 'builders' can build '${job.drvPath}' for '${job.drv.platform}')` : localBuildRefusal(job.drvPath, job.drv, ctx.settings));
  for (;;) {
    const lease = await remote.lease(job.drv, required, ctx.signal, job.inputs);
    if (!lease) {
      const refusal = hereRefused();
      if (refusal) throw new BuildError(refusal, 'other');
      return false;
    }
    let released = false;
    const release = (clean: boolean): void => {
      if (!released) lease.release(clean);
      released = true;
    };
    let locks: PathLocks | undefined;
    try {
      const outputPaths = [...job.outputs.values()];
      locks = await lockOutputs(ctx, outputPaths);
      const valid = queryValidPaths(ctx.store.db, outputPaths);
      // Built by another process while we waited for the lock.
      if (valid.size === outputPaths.length) return true;
      if (valid.size > 0) {
        const refusal = hereRefused();
        if (refusal) throw new BuildError(`some outputs of '${job.drvPath}' are valid and others are not; it can only be built again here, but ${refusal}`, 'other');
        return false;
      }
      for (const path of outputPaths) deletePathSync(ctx.store.layout.toReal(path));
      released = true; // buildRemotely gives the slot back itself
      await buildRemotely(ctx, job, lease);
      return true;
    } catch (error) {
      if (!(error instanceof ServeClientError) || ctx.signal.aborted) throw error;
      // buildRemotely has left the machine alone already (before freeing its slot).
      ctx.events.message(`warning: ${error.message}; building '${job.drvPath}' elsewhere`);
    } finally {
      release(true);
      locks?.release();
    }
  }
}

/** What a finished build produced: checked path infos, and where each output is on disk. */
export interface BuiltResult {
  infos: ValidPathInfo[];
  /** Output name -> physical location. */
  locations: Map<string, string>;
}

async function rebuild(ctx: BuildContext, job: BuildJob, finish: (built: BuiltResult) => Promise<void>): Promise<void> {
  const sandboxed = shouldSandbox(sandboxDerivationOf(job), ctx.settings.sandbox);
  const scratch = await Scratch.create(ctx.store, job.drvPath, job.outputs, sandboxed);
  try {
    await buildOnce(ctx, job, scratch, finish);
  } finally {
    scratch.remove();
  }
}

function sandboxDerivationOf(job: BuildJob, scratch?: Scratch): SandboxDerivation {
  const { drv, drvPath } = job;
  const rewrite = (text: string): string => scratch?.rewrite(text) ?? text;
  return {
    name: drvNameFromPath(drvPath),
    drvPath,
    builder: rewrite(drv.builder),
    args: drv.args.map(rewrite),
    env: Object.fromEntries([...drv.env].map(([k, v]) => [k, rewrite(v)])),
    outputs: Object.fromEntries(scratch ? scratch.outputsForBuilder(job.outputs) : job.outputs),
    isFixedOutput: [...drv.outputs.values()].some((o) => o.hash !== ''),
  };
}

async function buildOnce(ctx: BuildContext, job: BuildJob, scratch: Scratch | undefined, finish: (built: BuiltResult) => Promise<void>): Promise<void> {
  const { store } = ctx;
  const { drvPath, drv } = job;
  const inputClosure = ctx.inputClosure(job.inputs);
  const recursive = recursiveStarter(ctx, job, inputClosure);
  ctx.events.buildStarted(drvPath, drvNameFromPath(drvPath));
  const log = ctx.openLog(drvPath);
  let succeeded = false;
  let result: SandboxBuildResult;
  try {
    // A second build must never fall back to building in place, over the valid outputs.
    const settings = scratch ? { ...ctx.settings.sandbox, sandboxFallback: false } : ctx.settings.sandbox;
    result = await runSandboxedBuild({
      storeDir: store.layout.storeDir,
      realStoreDir: store.layout.realStoreDir,
      inputPaths: [...inputClosure],
      drv: sandboxDerivationOf(job, scratch),
      settings,
      closureOf: (paths) => [...computeClosure(store.db, paths)],
      referenceGraph: (paths) => ctx.referenceGraph(paths),
      onLogLine: (raw) => {
        // Colour stays; cursor movements, titles and nesting marks go, from the screen and the log.
        const text = filterLogLine(raw);
        ctx.events.logLine(drvPath, text);
        log.line(text);
      },
      onWarning: (message) => ctx.events.message(`warning: ${message}`),
      signal: ctx.signal,
      keepBuildDir: ctx.settings.keepFailed,
      removeBuildDir: (path: string) => ctx.removeBuildDir(path),
      ...ctx.sandboxOverrides,
      ...(scratch?.sandboxed ? { outputDest: (name: string) => scratch.location(name) } : {}),
      ...(ctx.preBuildHook ? { preBuildHook: (dir: string | undefined) => ctx.preBuildHook!(drvPath, dir, ctx) } : {}),
      ...(recursive ? { recursive: recursive.starter } : {}),
    });
    if (result.status.kind !== 'exited' || result.status.code !== 0) {
      if (result.buildDir) ctx.events.message(`note: keeping build directory '${result.buildDir}'`);
      throw statusError(drvPath, result.status);
    }
    if (result.buildDir) ctx.removeBuildDir(result.buildDir);
    const locations = new Map<string, string>();
    for (const [name, at] of Object.entries(result.outputs)) {
      locations.set(name, scratch ? await scratch.collect(name, at, result.sandboxed ? undefined : result.buildUid) : at);
    }
    const infos = await prepareOutputs(store, {
      drvPath,
      drv,
      outputs: job.outputs,
      locations,
      // What the builder added or built through its store is as good a reference as an input.
      inputClosure: recursive ? new Set([...inputClosure, ...recursive.added()]) : inputClosure,
      // Stand-in outputs were checked before they were rewritten (the rewritten copies are ours).
      ...(result.sandboxed || scratch ? {} : { requireOwner: result.buildUid }),
    });
    await finish({ infos, locations });
    succeeded = true;
  } catch (error) {
    // A refused output must not stay at its path, where it would look like the real thing.
    if (!scratch) for (const path of job.outputs.values()) deletePathSync(store.layout.toReal(path));
    throw error;
  } finally {
    ctx.events.buildFinished(drvPath, succeeded);
    // A log that cannot be stored (bzip2 missing, a full disk) is worth a warning, not the build.
    // Stored after the slot is free: the next build need not wait for the log's files.
    ctx.afterBuild(log.close().catch((error: Error) => ctx.events.message(`warning: ${error.message}`)));
  }
}
