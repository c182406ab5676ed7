/**
 * Builds shared by the requests of one process (tsnix-daemon's clients). Each request plans
 * and walks its own goals, but a derivation that several of them need is built once, in one
 * job slot of the process's `max-jobs`, and every request waiting for it is told that it
 * started and sees its log, from the start (a bounded backlog is replayed to latecomers).
 * The build runs as long as some request still waits for it: when the last one leaves (its
 * client hung up, its request failed without --keep-going) the builder is killed.
 *
 * Nix's output locks are still taken inside the build, so a nix-daemon or nix-store on the
 * same store never builds the same outputs at once with us.
 */
import { deleteTreeInPool } from '../pool/pool.js';
import type { BuildContext } from './context.js';
import { BuildCancelledError } from './errors.js';
import type { BuildEvents } from './events.js';
import { Semaphore } from './semaphore.js';

/** Log kept for a request that joins a build late: enough for a failing build's tail and more. */
const BACKLOG_BYTES = 1 << 20;

class SharedBuild {
  readonly waiters = new Set<BuildEvents>();
  readonly abort = new AbortController();
  /** The build's name once its builder started (a latecomer is told it started too). */
  name: string | undefined;
  machine: string | undefined;
  private backlog: string[] = [];
  private backlogBytes = 0;
  /** Whether lines were dropped from the front of the backlog. */
  private truncated = false;
  done!: Promise<void>;

  /** Events of the build, told to every request waiting now. */
  readonly events: BuildEvents = {
    expect() {},
    buildStarted: (drvPath, name, machine) => {
      this.name = name;
      this.machine = machine;
      for (const w of this.waiters) w.buildStarted(drvPath, name, machine);
    },
    logLine: (drvPath, line) => {
      this.remember(line);
      for (const w of this.waiters) w.logLine(drvPath, line);
    },
    buildFinished: (drvPath, ok) => {
      for (const w of this.waiters) w.buildFinished(drvPath, ok);
    },
    substitutionStarted: (path, from) => {
      for (const w of this.waiters) w.substitutionStarted(path, from);
    },
    substitutionFinished: (path, ok) => {
      for (const w of this.waiters) w.substitutionFinished(path, ok);
    },
    downloaded: (path, bytes) => {
      for (const w of this.waiters) w.downloaded(path, bytes);
    },
    message: (text) => {
      for (const w of this.waiters) w.message(text);
    },
  };

  private remember(line: string): void {
    this.backlog.push(line);
    this.backlogBytes += line.length + 1;
    while (this.backlogBytes > BACKLOG_BYTES && this.backlog.length > 1) {
      this.backlogBytes -= this.backlog.shift()!.length + 1;
      this.truncated = true;
    }
  }

  /** What a request joining now has missed: the start, and the log so far. */
  replay(drvPath: string, to: BuildEvents): void {
    if (this.name === undefined) return;
    to.buildStarted(drvPath, this.name, this.machine);
    if (this.truncated) to.message(`(the start of the log of '${drvPath}' is in its stored log)`);
    for (const line of this.backlog) to.logLine(drvPath, line);
  }
}

export class SharedBuilds {
  private readonly running = new Map<string, SharedBuild>();
  /** The process's build slots: every request's builds count against one `max-jobs`. */
  readonly jobs: Semaphore;

  constructor(maxJobs: number) {
    this.jobs = new Semaphore(maxJobs);
  }

  /** Resolves when every build running now has ended, its directory removed and its log stored. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.running.values()].map((entry) => entry.done));
  }

  /**
   * Builds `drvPath` with `build`, or joins its build when another request runs it already;
   * settles when the build (and its log's storing) is done, or at once when `ctx.signal`
   * aborts, which stops the build only if nobody else waits for it.
   */
  async join(drvPath: string, ctx: BuildContext, build: (shared: BuildContext) => Promise<void>): Promise<void> {
    for (;;) {
      if (ctx.signal.aborted) throw new BuildCancelledError('the request was cancelled');
      const entry = this.running.get(drvPath);
      if (!entry) break;
      if (!entry.abort.signal.aborted) {
        entry.replay(drvPath, ctx.events);
        return this.wait(entry, ctx);
      }
      // A build being stopped (its last requester left) is not joined: it is waited out and started anew.
      await entry.done.catch(() => {});
    }
    return this.wait(this.start(drvPath, ctx, build), ctx);
  }

  private start(drvPath: string, ctx: BuildContext, build: (shared: BuildContext) => Promise<void>): SharedBuild {
    const entry = new SharedBuild();
    const background = new Set<Promise<void>>();
    const shared: BuildContext = {
      ...ctx,
      events: entry.events,
      jobs: this.jobs,
      signal: entry.abort.signal,
      afterBuild: (work) => {
        const tracked: Promise<void> = work.finally(() => background.delete(tracked));
        background.add(tracked);
      },
      removeBuildDir: (path) =>
        shared.afterBuild(deleteTreeInPool(path).catch((error: Error) => entry.events.message(`warning: cannot remove build directory '${path}': ${error.message}`))),
    };
    this.running.set(drvPath, entry);
    entry.done = (async () => {
      try {
        await build(shared);
      } finally {
        // Its directory gone and its log in place before anyone is told it is done.
        while (background.size > 0) await Promise.all(background);
        this.running.delete(drvPath);
      }
    })();
    // Waiters see the outcome; a build nobody waits for any more must not be an unhandled rejection.
    entry.done.catch(() => {});
    return entry;
  }

  private wait(entry: SharedBuild, ctx: BuildContext): Promise<void> {
    const { signal, events } = ctx;
    if (signal.aborted) return Promise.reject(new BuildCancelledError('the request was cancelled'));
    entry.waiters.add(events);
    return new Promise<void>((resolve, reject) => {
      const leave = (): void => {
        entry.waiters.delete(events);
        if (entry.waiters.size === 0) entry.abort.abort(new BuildCancelledError('no request waits for the build any more'));
        reject(signal.reason instanceof Error ? signal.reason : new BuildCancelledError('the request was cancelled'));
      };
      signal.addEventListener('abort', leave, { once: true });
      entry.done.then(
        () => {
          signal.removeEventListener('abort', leave);
          entry.waiters.delete(events);
          resolve();
        },
        (error: unknown) => {
          signal.removeEventListener('abort', leave);
          entry.waiters.delete(events);
          reject(error);
        },
      );
    });
  }
}
