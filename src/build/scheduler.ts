/**
 * The scheduler of one store process: realises requests through the shared goal graph, with
 * `max-jobs` build slots and a cancellation signal. It reports through BuildEvents and never
 * writes to a terminal itself.
 */
import { deleteTreeInPool } from '../pool/pool.js';
import { computeClosure } from '../store/closure.js';
import { BuildLogWriter } from './buildLog.js';
import { runPreBuildHook } from './preBuildHook.js';
import type { LocalStore } from '../store/localStore.js';
import { queryReferences } from '../store/references.js';
import type { BuildSettings } from './buildSettings.js';
import type { BuildMode } from './buildStep.js';
import type { BuildContext, BuildLogSink, RecursiveStoreServer, SandboxOverrides } from './context.js';
import { BuildError, exitStatusOf } from './errors.js';
import { QUIET_EVENTS, type BuildEvents } from './events.js';
import { GoalGraph } from './goals/goalGraph.js';
import { wantedOutputs } from './drvOutputs.js';
import { HeldEvents } from './heldEvents.js';
import { inputClosures } from './inputClosures.js';
import { planRequest, planWithSubstitutes, type Plan } from './plan.js';
import { Semaphore } from './semaphore.js';
import type { SharedBuilds } from './sharedBuilds.js';
import type { RemoteBuilders } from './remote/remoteBuilders.js';
import type { Substituter } from './substituter.js';
import type { Target } from './targets.js';
import type { Derivation } from '../format/derivation/index.js';

export interface SchedulerOptions {
  settings: BuildSettings;
  events?: BuildEvents;
  substituters?: Substituter[];
  sandbox?: SandboxOverrides;
  /** Where build logs are stored; default: nowhere. */
  openLog?(drvPath: string): BuildLogSink;
  preBuildHook?(drvPath: string, sandboxDir: string | undefined): Promise<string[]>;
  /** Builds shared with the other requests of this process (tsnix-daemon's clients). */
  shared?: SharedBuilds;
  /** The machines of `builders`, for builds elsewhere. */
  remote?: RemoteBuilders;
  /** Serves the store of a recursive build (recursive-nix); without it such a build fails. */
  recursive?: RecursiveStoreServer;
  /** `check` rebuilds the named derivations and compares; `repair` rebuilds whatever is damaged. */
  mode?: BuildMode;
}

export interface RealiseResult {
  /** For each target in order: its outputs (none when it failed); a plain path counts as `out`. */
  outputs: { name: string; path: string }[][];
  /** Every failure, in the order they happened. */
  failures: BuildError[];
  /** For each target in order: why it failed (not reported to the events yet), if it did. */
  targetFailures: (Error | undefined)[];
  /** nix-store's exit status: 0, 1, or 100–111. */
  exitStatus: number;
}

/** The log nix-store -l reads: under the store's log directory, bzip2 or plain. */
function storedLog(store: LocalStore, drvPath: string, compress: boolean): BuildLogSink {
  const writer = BuildLogWriter.open(store.layout, drvPath, compress);
  return { line: (text) => writer.writeLine(text), close: () => writer.close() };
}

export class Scheduler {
  private readonly abort = new AbortController();
  private readonly graph: GoalGraph;
  /** Work that outlives a build's slot but not the request: build-dir removals, log storage. */
  private readonly background = new Set<Promise<void>>();
  readonly ctx: BuildContext;

  /** The events of the goals, held back while `realiseAnnounced` waits for the plan. */
  private readonly events: HeldEvents;

  constructor(store: LocalStore, options: SchedulerOptions) {
    const events = new HeldEvents(options.events ?? QUIET_EVENTS);
    this.events = events;
    this.ctx = {
      store,
      settings: options.settings,
      events,
      substituters: options.substituters ?? [],
      jobs: options.shared?.jobs ?? new Semaphore(options.settings.maxJobs),
      // As Nix 2.8: substitutions count against max-jobs too, though -j0 still lets one run.
      substitutionJobs: new Semaphore(Math.max(1, options.settings.maxJobs)),
      signal: this.abort.signal,
      openLog: (drvPath) => (options.openLog ? options.openLog(drvPath) : storedLog(store, drvPath, options.settings.compressBuildLog)),
      referenceGraph: (paths) => new Map([...computeClosure(store.db, paths)].map((p) => [p, queryReferences(store.db, p)])),
      inputClosure: inputClosures(store, (options.mode ?? 'normal') !== 'repair'),
      sandboxOverrides: options.sandbox ?? {},
      removeBuildDir: (path) =>
        this.ctx.afterBuild(deleteTreeInPool(path).catch((error: Error) => events.message(`warning: cannot remove build directory '${path}': ${error.message}`))),
      afterBuild: (work) => {
        const tracked: Promise<void> = work.finally(() => this.background.delete(tracked));
        this.background.add(tracked);
      },
      ...(options.preBuildHook ? { preBuildHook: options.preBuildHook } : {}),
      ...(options.shared ? { shared: options.shared } : {}),
      ...(options.recursive ? { recursive: options.recursive } : {}),
      ...(options.remote ? { remote: options.remote } : {}),
    };
    const hook = options.settings.preBuildHook;
    if (!options.preBuildHook && hook !== '') {
      // The build's own signal and events: a build shared with other requests outlives this one.
      this.ctx.preBuildHook = (drvPath, sandboxDir, build) =>
        runPreBuildHook({
          hook,
          drvPath,
          ...(sandboxDir !== undefined ? { sandboxDir } : {}),
          signal: build.signal,
          onStderrLine: (line) => build.events.logLine(drvPath, line),
        });
    }
    this.graph = new GoalGraph(this.ctx, (reason) => this.abort.abort(reason), options.mode);
  }

  /** What realising `targets` will do; asks the substituters (level by level) when there are any. */
  async plan(targets: readonly Target[], signal: AbortSignal = this.ctx.signal): Promise<Plan> {
    if (this.ctx.substituters.length === 0) return planRequest(this.ctx.store, targets);
    const prefetch = (paths: string[]): void => {
      for (const substituter of this.ctx.substituters) substituter.prefetch?.(paths, signal);
    };
    return planWithSubstitutes(this.ctx.store, targets, {
      substituters: () => this.graph.substituters(),
      signal,
      prefetch,
      madeMeanwhile: this.graph.substituted,
      alwaysAllowSubstitutes: this.ctx.settings.alwaysAllowSubstitutes,
    });
  }

  /** Stops everything: running builders are killed, waiting goals give up. */
  cancel(reason: Error): void {
    this.abort.abort(reason);
    this.planAbort.abort(reason);
  }

  /**
   * The signal of a plan worked out beside the goals: a failing goal stops the other goals
   * (without --keep-going) but not the plan, whose listing still comes first; only `cancel` stops it.
   */
  private readonly planAbort = new AbortController();

  /** `plan`: what `plan(targets)` gave already (a plan with substituters walks the whole closure). */
  async realise(targets: readonly Target[], plan?: Plan): Promise<RealiseResult> {
    checkTargets(this.ctx.store, targets);
    plan ??= await this.plan(targets);
    this.expectPlan(plan);
    return this.runGoals(targets);
  }

  /**
   * `realise`, telling `announce` the plan before any event of the goals (nix-store prints
   * its listing first). With substituters the goals start at once, beside the plan's walk of
   * the closure: downloads begin with the first narinfos, not after the last one (for a
   * closure nine levels deep, a second sooner over a 100 ms link); their events wait for
   * the announcement.
   */
  async realiseAnnounced(targets: readonly Target[], announce: (plan: Plan) => void): Promise<RealiseResult> {
    checkTargets(this.ctx.store, targets);
    if (this.ctx.substituters.length === 0 || this.ctx.settings.maxJobs === 0) {
      const plan = await this.plan(targets);
      announce(plan);
      return this.realise(targets, plan);
    }
    this.events.hold();
    const planned = this.plan(targets, this.planAbort.signal).then(
      (plan) => {
        try {
          announce(plan);
          this.expectPlan(plan);
        } catch (error) {
          this.cancel(error instanceof Error ? error : new Error(String(error)));
          throw error;
        } finally {
          this.events.release();
        }
      },
      (error: unknown) => {
        this.cancel(error instanceof Error ? error : new Error(String(error)));
        this.events.release();
        throw error;
      },
    );
    const [plan, result] = await Promise.allSettled([planned, this.runGoals(targets)]);
    if (plan.status === 'rejected') throw plan.reason;
    if (result.status === 'rejected') throw result.reason;
    return result.value;
  }

  /**
   * Builds a derivation given whole (BuildDerivation): its input sources are valid or fetched
   * first, it has no input derivations. `built` is false when its outputs were valid already.
   */
  async realiseGiven(drvPath: string, drv: Derivation): Promise<{ built: boolean; failure?: Error }> {
    this.graph.targets.add(drvPath);
    try {
      return { built: await this.graph.givenDerivation(drvPath, drv) };
    } catch (error) {
      return { built: false, failure: error as Error };
    } finally {
      // Nothing of a build may outlive the request, not even its directory; its log is in place.
      while (this.background.size > 0) await Promise.all(this.background);
    }
  }

  private expectPlan(plan: Plan): void {
    this.ctx.events.expect(plan.willBuild.length, plan.willSubstitute.length);
    if (plan.willBuild.length > 0 && this.ctx.settings.maxJobs === 0 && !this.ctx.remote) {
      throw new BuildError("unable to start any build; either increase '--max-jobs' or enable remote builds.", 'other');
    }
  }

  private async runGoals(targets: readonly Target[]): Promise<RealiseResult> {
    for (const t of targets) this.graph.targets.add(t.kind === 'path' ? t.path : t.drvPath);
    const settled = await Promise.allSettled(targets.map((t) => (t.kind === 'path' ? this.graph.path(t.path) : this.graph.derivation(t.drvPath))));
    const outputs = targets.map((target, i) => {
      if (settled[i]!.status === 'rejected') return [];
      if (target.kind === 'path') return [{ name: 'out', path: target.path }];
      return wantedOutputs(this.ctx.store, target.drvPath, target.outputs);
    });
    while (this.background.size > 0) await Promise.all(this.background);
    const failures = [...this.graph.failures];
    const targetFailures = settled.map((s) => (s.status === 'rejected' ? (s.reason as Error) : undefined));
    return { outputs, failures, targetFailures, exitStatus: exitStatusOf(failures.map((f) => f.kind)) };
  }
}

/** An output named that its derivation does not have is an error before anything starts. */
function checkTargets(store: LocalStore, targets: readonly Target[]): void {
  for (const target of targets) {
    if (target.kind === 'derivation' && target.outputs) wantedOutputs(store, target.drvPath, target.outputs);
  }
}
