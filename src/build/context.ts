/** What every goal of one scheduler shares: the store, the settings, job slots, the user's display. */
import type { LocalStore } from '../store/localStore.js';
import type { BuildSettings } from './buildSettings.js';
import type { BuildEvents } from './events.js';
import type { Semaphore } from './semaphore.js';
import type { SandboxBuildRequest } from './sandbox.js';
import type { Substituter } from './substituter.js';
import type { SharedBuilds } from './sharedBuilds.js';
import type { RemoteBuilders } from './remote/remoteBuilders.js';

/** Where one build's log lines go besides the display (the log store). */
export interface BuildLogSink {
  line(text: string): void;
  close(): Promise<void>;
}

/** Test and deployment knobs of the sandbox (helper binary, build-user pool, where build dirs go). */
export type SandboxOverrides = Partial<Pick<SandboxBuildRequest, 'helper' | 'userPoolDir' | 'buildDirParent' | 'pasta'>>;

/** One recursive build (recursive-nix) asking for a store of its own. */
export interface RecursiveBuild {
  drvPath: string;
  /** Where to listen (a host path in the build directory), and who alone may connect. */
  socketPath: string;
  owner: { uid: number; gid: number };
  /** What the build may see from the start: its input closure. */
  inputClosure: ReadonlySet<string>;
  /** Makes store paths appear in the running sandbox. */
  materialise(paths: readonly string[]): Promise<void>;
  /** The context of the build, for builds the builder asks for. */
  ctx: BuildContext;
}

export interface RecursiveSession {
  /** Paths added or built through the store so far, with their closures: outputs may refer to them. */
  readonly added: ReadonlySet<string>;
  stop(): Promise<void>;
}

/** Serves a restricted store to a recursive build: given by whoever runs the scheduler (it is the daemon's code). */
export type RecursiveStoreServer = (build: RecursiveBuild) => Promise<RecursiveSession>;

export interface BuildContext {
  store: LocalStore;
  settings: BuildSettings;
  events: BuildEvents;
  substituters: readonly Substituter[];
  jobs: Semaphore;
  /** Downloads at once. */
  substitutionJobs: Semaphore;
  signal: AbortSignal;
  /** Where a build's log is stored (its lines reach `events` from the build itself). */
  openLog(drvPath: string): BuildLogSink;
  referenceGraph(paths: string[]): ReadonlyMap<string, readonly string[]>;
  /** The closure of a build's inputs (valid paths). */
  inputClosure(paths: readonly string[]): Set<string>;
  sandboxOverrides: SandboxOverrides;
  /** Removes a finished build's directory in the background; the scheduler waits for these at the end. */
  removeBuildDir(path: string): void;
  /** Work of a finished build that need not hold its job slot (storing its log); awaited at the end like removals. */
  afterBuild(work: Promise<void>): void;
  /** Runs the `pre-build-hook` for one build; undefined when none is set. */
  preBuildHook?(drvPath: string, sandboxDir: string | undefined, build: Pick<BuildContext, 'signal' | 'events'>): Promise<string[]>;
  /** The machines of `builders`: plain builds go to one that fits when there is one. */
  remote?: RemoteBuilders;
  /** For derivations that require `recursive-nix` (with that experimental feature on). */
  recursive?: RecursiveStoreServer;
  /** Builds shared with the other requests of this process (the daemon's); none: every build is this request's own. */
  shared?: SharedBuilds;
}
