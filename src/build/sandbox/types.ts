/** The driver's request and result types (kept apart so the policy helpers can share them). */
import type { ReferenceGraphQuery } from './referencesGraph.js';
import type { BuilderStatus } from './runHelper.js';
import type { SandboxSettings } from './settings.js';

/** What the sandbox needs of a derivation (a subset of the parsed `.drv`). */
export interface SandboxDerivation {
  name: string;
  /** For messages only. */
  drvPath?: string;
  builder: string;
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  /** Output name -> logical store path. */
  outputs: Readonly<Record<string, string>>;
  isFixedOutput: boolean;
}

export interface SandboxBuildRequest {
  /** The logical store directory (in every store path) and where it is on this machine. */
  storeDir: string;
  realStoreDir: string;
  /** The input closure: logical store paths bound read-only into the sandbox. */
  inputPaths: readonly string[];
  drv: SandboxDerivation;
  settings: SandboxSettings;
  /** The closure of store paths; used for store paths named in sandbox-paths. */
  closureOf?: (paths: string[]) => Promise<string[]> | string[];
  /** The closure of paths with their references; used for `exportReferencesGraph`. */
  referenceGraph?: ReferenceGraphQuery;
  onLogLine(line: string): void;
  onWarning?(message: string): void;
  signal?: AbortSignal;
  /** Where the private build directories are made (default: the OS temp dir). */
  buildDirParent?: string;
  /** Lock files of the build users; default /nix/var/nix/userpool, shared with nix. Tests may give a private one. */
  userPoolDir?: string;
  /** The helper binary (default: helper-c/tsnix-helper of this checkout, or $TSNIX_HELPER). */
  helper?: string;
  /** pasta for fixed-output builds; null = do not use it (host network with a warning). */
  pasta?: string | null;
  /** Variables read for `impureEnvVars` (default: process.env). */
  impureEnv?: Readonly<Record<string, string | undefined>>;
  /** Where each output is copied to (default: realStoreDir/<base name>); whatever is there is replaced, so a `--check` build must name another place. */
  outputDest?(outputName: string, logicalPath: string): string;
  keepBuildDir?: boolean;
  /** false: a fresh build directory for every build, never a kept sandbox (keptSandboxes.ts). */
  keepSandboxes?: boolean;
  /** Removes the build directory once the build is over (default: at once, on this thread). */
  removeBuildDir?(path: string): void;
  /**
   * Run before the build with the sandbox's root directory (undefined without a sandbox);
   * returns `sandbox-paths` entries to add to this build (the `pre-build-hook`).
   */
  preBuildHook?(sandboxDir: string | undefined): Promise<string[]>;
  /**
   * A store the builder may call (recursive-nix): started on a socket in the build directory
   * before the builder runs, with NIX_REMOTE pointing at it; stopped when the builder ends.
   */
  recursive?: RecursiveStoreStarter;
}

export interface RecursiveStoreStarter {
  /**
   * Serves on `socketPath` (a host path), for the build user `owner` only. `materialise`
   * makes store paths appear in the running sandbox (nothing to do without one).
   */
  start(socketPath: string, owner: { uid: number; gid: number }, materialise: (paths: readonly string[]) => Promise<void>): Promise<{ stop(): Promise<void> }>;
}

export interface SandboxBuildResult {
  status: BuilderStatus;
  /** Output name -> host path of each output the builder produced (only after exit 0). */
  outputs: Record<string, string>;
  sandboxed: boolean;
  /** Seconds from spawning the helper to its exit (the sandbox's own cost plus the builder's run). */
  helperSeconds: number;
  /** The uid the builder ran as: every file of an output built without a sandbox must be its. */
  buildUid: number;
  /** The kept build directory, when keepBuildDir was set. */
  buildDir?: string;
}
