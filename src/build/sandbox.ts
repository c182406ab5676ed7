/**
 * The build sandbox driver: turns a derivation, its input closure and the sandbox settings
 * into a description for the C helper (helper-c/), runs it, streams the builder's log, and
 * copies the outputs out of the sandbox. Registration (canonicalising, hashing) is the caller's.
 */
import { chmodSync, existsSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acquireBuildUser, type BuildUser } from './sandbox/buildUsers.js';
import { createBuildDirs, removeTree, writeBuildFile } from './sandbox/buildDir.js';
import { copyOutput } from './sandbox/copyOutput.js';
import { builderEnvironment } from './sandbox/environment.js';
import { SandboxPolicyError, SandboxSetupError } from './sandbox/errors.js';
import { SANDBOX_BUILD_DIR, sandboxLayout, storePathOf } from './sandbox/layout.js';
import { referenceGraphFiles, type ReferenceGraphQuery } from './sandbox/referencesGraph.js';
import { runHelper, type BuilderStatus } from './sandbox/runHelper.js';
import type { SandboxSettings } from './sandbox/settings.js';
import { encodeHelperSpec, type HelperSpec, type NetworkMode } from './sandbox/spec.js';

export type { BuilderStatus } from './sandbox/runHelper.js';
export type { SandboxSettings } from './sandbox/settings.js';
export { DEFAULT_SANDBOX_SETTINGS, sandboxSettingsFrom } from './sandbox/settings.js';
export { SandboxError, SandboxPolicyError, SandboxSetupError } from './sandbox/errors.js';

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
  /** Lock files of the build users (Nix: /nix/var/nix/userpool). */
  userPoolDir?: string;
  /** The helper binary (default: helper-c/tsnix-helper of this checkout, or $TSNIX_HELPER). */
  helper?: string;
  /** pasta for fixed-output builds; null = do not use it (host network with a warning). */
  pasta?: string | null;
  /** Variables read for `impureEnvVars` (default: process.env). */
  impureEnv?: Readonly<Record<string, string | undefined>>;
  /** Where each output is copied to (default: realStoreDir/<base name>). */
  outputDest?(outputName: string, logicalPath: string): string;
  keepBuildDir?: boolean;
}

export interface SandboxBuildResult {
  status: BuilderStatus;
  /** Output name -> host path of each output the builder produced (only after exit 0). */
  outputs: Record<string, string>;
  sandboxed: boolean;
  /** Seconds from spawning the helper to its exit (the sandbox's own cost plus the builder's run). */
  helperSeconds: number;
  /** The kept build directory, when keepBuildDir was set. */
  buildDir?: string;
}

export function defaultHelperPath(): string {
  return process.env['TSNIX_HELPER'] ?? fileURLToPath(new URL('../../../helper-c/tsnix-helper', import.meta.url));
}

/**
 * The command line that runs `argv` in a private mount namespace where `storeDir` is writable,
 * for stores whose directory is a read-only bind mount (as NixOS mounts /nix/store).
 */
export function writableStoreCommand(storeDir: string, argv: readonly string[], helper = defaultHelperPath()): string[] {
  return [helper, '--writable-store', storeDir, '--', ...argv];
}

export function findPasta(): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(':').filter((d) => d !== ''), '/usr/bin', '/usr/sbin', '/bin'];
  return dirs.map((dir) => join(dir, 'pasta')).find((path) => existsSync(path));
}

function shouldSandbox(drv: SandboxDerivation, settings: SandboxSettings): boolean {
  if (settings.sandbox === 'false') return false;
  if (drv.env['__noChroot'] !== '1') return true;
  if (settings.sandbox === 'relaxed') return false;
  throw new SandboxPolicyError(
    `derivation '${drv.drvPath ?? drv.name}' has '__noChroot' set, but that's not allowed when 'sandbox' is 'true'`,
  );
}

function chooseBuildUser(request: SandboxBuildRequest): BuildUser {
  const self = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  if (self.uid !== 0 || request.settings.buildUsersGroup === '') {
    return { ...self, name: String(self.uid), release: () => undefined };
  }
  const pool = request.userPoolDir ?? join(request.buildDirParent ?? tmpdir(), 'tsnix-userpool');
  return acquireBuildUser(request.settings.buildUsersGroup, pool);
}

async function storePathsToBind(request: SandboxBuildRequest): Promise<Set<string>> {
  const paths = new Set(request.inputPaths);
  const fromSettings = [...request.settings.sandboxPaths, ...request.settings.extraSandboxPaths]
    .map((entry) => storePathOf(request.storeDir, entry.replace(/\?$/, '').split('=').pop() ?? ''))
    .filter((path): path is string => path !== undefined);
  if (fromSettings.length > 0) {
    if (!request.closureOf) throw new SandboxPolicyError(`'sandbox-paths' names store paths but no store was given to compute their closure`);
    for (const path of await request.closureOf(fromSettings)) paths.add(path);
  }
  return paths;
}

function networkFor(request: SandboxBuildRequest): { network: NetworkMode; pasta?: string } {
  if (!request.drv.isFixedOutput) return { network: 'private' };
  const pasta = request.pasta === null ? undefined : (request.pasta ?? findPasta());
  if (pasta) return { network: 'pasta', pasta };
  request.onWarning?.(
    `'pasta' was not found; the fixed-output derivation '${request.drv.drvPath ?? request.drv.name}' uses the host's network`,
  );
  return { network: 'host' };
}

/** Runs one build of `request.drv` in the sandbox (or without one, as the settings say). */
export async function runSandboxedBuild(request: SandboxBuildRequest): Promise<SandboxBuildResult> {
  const { drv, settings } = request;
  let sandboxed = shouldSandbox(drv, settings);
  if (!sandboxed && request.storeDir !== request.realStoreDir) {
    throw new SandboxPolicyError(`building '${drv.drvPath ?? drv.name}' without a sandbox needs the store at its logical location '${request.storeDir}' (building using a diverted store is not supported)`);
  }
  const user = chooseBuildUser(request);
  const dirs = createBuildDirs(request.buildDirParent ?? tmpdir(), drv.name, user, sandboxed);
  try {
    const storePaths = sandboxed ? await storePathsToBind(request) : new Set<string>();
    const graphs = await referenceGraphFiles(drv.env['exportReferencesGraph'], new Set(request.inputPaths), request.referenceGraph, drv.drvPath ?? drv.name);
    const driver = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    // Written by the driver and left owned by it, as Nix leaves them owned by root.
    for (const [name, content] of graphs) writeBuildFile(dirs.build, name, content, driver);
    const describe = (inSandbox: boolean): HelperSpec => {
      const environment = builderEnvironment({
        drvEnv: drv.env,
        storeDir: request.storeDir,
        buildDir: inSandbox ? SANDBOX_BUILD_DIR : dirs.build,
        cores: settings.cores,
        isFixedOutput: drv.isFixedOutput,
        impureSource: request.impureEnv ?? process.env,
      });
      for (const [name, content] of environment.files) {
        removeTree(join(dirs.build, name));
        writeBuildFile(dirs.build, name, content, user);
      }
      const net = inSandbox ? networkFor(request) : { network: 'host' as const };
      return {
        namespaces: inSandbox,
        ...(inSandbox ? { root: dirs.root } : {}),
        entries: inSandbox
          ? sandboxLayout({
              storeDir: request.storeDir,
              realStoreDir: request.realStoreDir,
              storePaths,
              buildDir: dirs.build,
              sandboxPaths: [...settings.sandboxPaths, ...settings.extraSandboxPaths],
              isFixedOutput: drv.isFixedOutput,
            })
          : [],
        buildUid: user.uid,
        buildGid: user.gid,
        ...net,
        hostname: 'localhost',
        domainname: '(none)',
        uname26: settings.impersonateLinux26,
        cwd: inSandbox ? SANDBOX_BUILD_DIR : dirs.build,
        program: drv.builder,
        argv: [basename(drv.builder), ...drv.args],
        env: environment.env,
      };
    };
    const run = (inSandbox: boolean): Promise<BuilderStatus> =>
      runHelper({
        helper: request.helper ?? defaultHelperPath(),
        description: encodeHelperSpec(describe(inSandbox)),
        onLogLine: request.onLogLine,
        timeout: settings.timeout,
        maxSilentTime: settings.maxSilentTime,
        ...(request.signal ? { signal: request.signal } : {}),
      });
    let status: BuilderStatus;
    const spawned = process.hrtime.bigint();
    try {
      status = await run(sandboxed);
    } catch (error) {
      const noNamespaces = error instanceof SandboxSetupError && /cannot create the sandbox's namespaces/.test(error.message);
      if (!noNamespaces || !settings.sandboxFallback || request.storeDir !== request.realStoreDir) throw error;
      request.onWarning?.(`${error.message}; building without a sandbox ('sandbox-fallback' is true)`);
      sandboxed = false;
      chmodSync(dirs.top, 0o711); // as createBuildDirs does for unsandboxed builds
      status = await run(false);
    }
    const helperSeconds = Number(process.hrtime.bigint() - spawned) / 1e9;
    const outputs: Record<string, string> = {};
    if (status.kind === 'exited' && status.code === 0) {
      const producedIn = sandboxed ? dirs.root + request.storeDir : request.realStoreDir;
      for (const [name, path] of Object.entries(drv.outputs)) {
        const base = basename(path);
        if (!lstatIfExists(join(producedIn, base))) continue;
        const dest = request.outputDest?.(name, path) ?? join(request.realStoreDir, base);
        if (sandboxed) copyOutput(producedIn, base, dest);
        outputs[name] = sandboxed ? dest : join(producedIn, base);
      }
    }
    return { status, outputs, sandboxed, helperSeconds, ...(request.keepBuildDir ? { buildDir: dirs.top } : {}) };
  } finally {
    if (!request.keepBuildDir) removeTree(dirs.top);
    user.release();
  }
}

function lstatIfExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
