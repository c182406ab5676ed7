/**
 * The goal graph: one goal per `.drv` and per store path, created on first request and shared
 * by every later one. A failure is reported once where it happens; without --keep-going it
 * cancels everything else (running builders are killed through the AbortSignal).
 */
import type { BuildMode } from '../buildStep.js';
import type { BuildContext } from '../context.js';
import { orderSubstituters, type Substituter } from '../substituter.js';
import { BuildCancelledError, BuildError } from '../errors.js';
import { runDerivationGoal, runGivenDerivationGoal } from './derivationGoal.js';
import type { Derivation } from '../../format/derivation/index.js';
import { runPathGoal } from './pathGoal.js';

export class GoalGraph {
  private readonly derivations = new Map<string, Promise<void>>();
  private readonly paths = new Map<string, Promise<void>>();
  readonly failures: BuildError[] = [];
  /** Goals a request named: their failures are the request's to report (as nix-store does, once, at the end). */
  readonly targets = new Set<string>();

  constructor(
    readonly ctx: BuildContext,
    private readonly cancel: (reason: Error) => void,
    private readonly mode: BuildMode = 'normal',
  ) {}

  private ordered: Promise<Substituter[]> | undefined;
  /** Paths this graph's goals fetched and made valid. */
  readonly substituted = new Set<string>();

  /** The substituters by priority, worked out when a goal first needs one (no request before). */
  substituters(): Promise<Substituter[]> {
    this.ordered ??= orderSubstituters(this.ctx.substituters, (m) => this.ctx.events.message(m), this.ctx.signal);
    return this.ordered;
  }

  /** `--check` applies to the derivations named, `--repair` to everything they need. */
  modeOf(goal: string): BuildMode {
    if (this.mode === 'check') return this.targets.has(goal) ? 'check' : 'normal';
    return this.mode;
  }

  derivation(drvPath: string): Promise<void> {
    let goal = this.derivations.get(drvPath);
    if (!goal) {
      goal = this.watch(runDerivationGoal(this, drvPath), drvPath);
      this.derivations.set(drvPath, goal);
    }
    return goal;
  }

  /** A derivation given whole (see runGivenDerivationGoal): not shared with the goal of a `.drv` by that name. */
  givenDerivation(drvPath: string, drv: Derivation): Promise<boolean> {
    return this.watch(runGivenDerivationGoal(this, drvPath, drv), drvPath);
  }

  path(path: string): Promise<void> {
    let goal = this.paths.get(path);
    if (!goal) {
      goal = this.watch(runPathGoal(this, path), path);
      this.paths.set(path, goal);
    }
    return goal;
  }

  private readonly attempts = new Map<string, Promise<void>>();
  /** Which paths each substituted path waits for: a cache's references must not form a cycle. */
  private readonly waits = new Map<string, readonly string[]>();

  /**
   * Records that `path` waits for `references` (its substitutes' references), refusing a
   * cycle: a cache that claims A needs B and B needs A would otherwise leave both goals
   * waiting for each other forever.
   */
  waitFor(path: string, references: readonly string[]): void {
    const stack = [...references];
    const seen = new Set<string>();
    while (stack.length > 0) {
      const next = stack.pop()!;
      if (next === path) throw new BuildError(`cycle detected in the references of '${path}' that the binary cache reports`, 'other');
      if (seen.has(next)) continue;
      seen.add(next);
      stack.push(...(this.waits.get(next) ?? []));
    }
    this.waits.set(path, references);
  }

  /**
   * An output fetched instead of built. With `--fallback` a failure is no failure of the
   * request (the derivation is built instead), so it is neither recorded nor cancels anything.
   */
  substitute(path: string): Promise<void> {
    if (!this.ctx.settings.fallback) return this.path(path);
    let attempt = this.attempts.get(path);
    if (!attempt) {
      attempt = runPathGoal(this, path);
      this.attempts.set(path, attempt);
    }
    return attempt;
  }

  /** Records and reports a goal's own failure; what fails because of a cancellation is not one. */
  private async watch<T>(goal: Promise<T>, what: string): Promise<T> {
    try {
      return await goal;
    } catch (error) {
      if (error instanceof BuildCancelledError) throw error;
      // A builder killed or a wait given up because of the cancellation is not a failure of its own.
      if (this.ctx.signal.aborted && !(error instanceof BuildError && error.kind === 'dependency')) throw new BuildCancelledError(what);
      const failure = error instanceof BuildError ? error : new BuildError((error as Error).message, 'other');
      this.failures.push(failure);
      if (!this.targets.has(what)) this.ctx.events.message(`error: ${failure.message}`);
      if (!this.ctx.settings.keepGoing) this.cancel(new BuildCancelledError('cancelled after a failure'));
      throw failure;
    }
  }
}
