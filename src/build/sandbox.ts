/**
 * The build sandbox driver: turns a derivation, its input closure and the sandbox settings
 * into a description for the C helper (helper-c/), runs it, streams the builder's log, and
 * copies the outputs out of the sandbox. Registration (canonicalising, hashing) is the caller's.
 */
import { chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createBuildDirs, removeTree, writeBuildFile, type BuildDirs } from './sandbox/buildDir.js';
import { copyOutput } from './sandbox/copyOutput.js';
import { builderEnvironment } from './sandbox/environment.js';
import { SandboxPolicyError, SandboxSetupError } from './sandbox/errors.js';
import { layoutView, SANDBOX_BUILD_DIR, sandboxLayout } from './sandbox/layout.js';
import { keptSandboxes, type KeptDirs } from './sandbox/keptSandboxes.js';
import { chooseBuildUser, networkFor, shouldSandbox, storePathsToBind } from './sandbox/policy.js';
import { referenceGraphFiles } from './sandbox/referencesGraph.js';
import { runHelper, type BuilderStatus } from './sandbox/runHelper.js';
import { mountIntoSandbox } from './sandbox/mounter.js';
import { encodeHelperSpec, type HelperSpec } from './sandbox/spec.js';
import type { SandboxBuildRequest, SandboxBuildResult } from './sandbox/types.js';
import { pathExists } from '../store/pathExists.js';
import { packageFile } from '../packagePaths.js';

export type { BuilderStatus } from './sandbox/runHelper.js';
export type { SandboxSettings } from './sandbox/settings.js';
export { DEFAULT_SANDBOX_SETTINGS, sandboxSettingsFrom } from './sandbox/settings.js';
export { SandboxError, SandboxPolicyError, SandboxSetupError } from './sandbox/errors.js';
export type { RecursiveStoreStarter, SandboxBuildRequest, SandboxBuildResult, SandboxDerivation } from './sandbox/types.js';
export type { ReferenceGraphQuery } from './sandbox/referencesGraph.js';
export { findPasta, shouldSandbox } from './sandbox/policy.js';

/** The recursive-nix socket's name in the build directory (`/build/.nix-socket` in the sandbox), as Nix names it. */
const RECURSIVE_SOCKET = '.nix-socket';

export function defaultHelperPath(): string {
  return process.env['TSNIX_HELPER'] ?? packageFile('helper-c/tsnix-helper');
}

/**
 * The command line that runs `argv` in a private mount namespace where `storeDir` is writable,
 * for stores whose directory is a read-only bind mount (as NixOS mounts /nix/store).
 */
export function writableStoreCommand(storeDir: string, argv: readonly string[], helper = defaultHelperPath()): string[] {
  return [helper, '--writable-store', storeDir, '--', ...argv];
}

/** Runs one build of `request.drv` in the sandbox (or without one, as the settings say). */
export async function runSandboxedBuild(request: SandboxBuildRequest): Promise<SandboxBuildResult> {
  const { drv } = request;
  let settings = request.settings;
  let sandboxed = shouldSandbox(drv, settings);
  if (!sandboxed && request.storeDir !== request.realStoreDir) {
    throw new SandboxPolicyError(`building '${drv.drvPath ?? drv.name}' without a sandbox needs the store at its logical location '${request.storeDir}' (building using a diverted store is not supported)`);
  }
  const user = chooseBuildUser(request);
  const parent = request.buildDirParent ?? tmpdir();
  // A kept sandbox (keptSandboxes.ts) needs the helper to run as root (a store view is bound
  // into a tmpfs root); a build directory that is to be kept for the user is a fresh one.
  const kept = sandboxed && request.keepSandboxes !== false && !request.keepBuildDir && process.getuid?.() === 0 ? keptSandboxes(parent) : undefined;
  let dirs: BuildDirs;
  let keptDirs: KeptDirs | undefined;
  try {
    keptDirs = kept?.acquire(user);
    dirs = keptDirs ?? createBuildDirs(parent, drv.name, user, sandboxed);
  } catch (error) {
    user.release();
    throw error;
  }
  let keptReusable = false;
  const removeDir = request.removeBuildDir ?? removeTree;
  try {
    if (request.preBuildHook) {
      // The hook sees the sandbox's root directory (not yet filled) and may add paths to this build only.
      const added = await request.preBuildHook(sandboxed ? dirs.root : undefined);
      if (added.length > 0) settings = { ...settings, extraSandboxPaths: [...settings.extraSandboxPaths, ...added] };
    }
    const storePaths = sandboxed ? await storePathsToBind({ ...request, settings }) : new Set<string>();
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
      if (request.recursive) environment.env['NIX_REMOTE'] = `unix://${inSandbox ? SANDBOX_BUILD_DIR : dirs.build}/${RECURSIVE_SOCKET}`;
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
              ...(keptDirs ? { storeView: keptDirs.store } : {}),
            })
          : [],
        buildUid: user.uid,
        buildGid: user.gid,
        ...net,
        hostname: 'localhost',
        domainname: '(none)',
        uname26: settings.impersonateLinux26,
        cwd: inSandbox ? SANDBOX_BUILD_DIR : dirs.build,
        ...(request.recursive && inSandbox ? { mounter: mounterSocket } : {}),
        ...(inSandbox ? { storeDirs: { logical: request.storeDir, real: request.realStoreDir } } : {}),
        program: drv.builder,
        argv: [basename(drv.builder), ...drv.args],
        env: environment.env,
      };
    };
    const run = (description: HelperSpec): Promise<BuilderStatus> =>
      runHelper({
        helper: request.helper ?? defaultHelperPath(),
        description: encodeHelperSpec(description),
        onLogLine: request.onLogLine,
        timeout: settings.timeout,
        maxSilentTime: settings.maxSilentTime,
        maxLogSize: settings.maxLogSize,
        ...(request.signal ? { signal: request.signal } : {}),
      });
    // A recursive build's new paths are mounted into its sandbox by the helper's mounter,
    // which listens in the build's top directory (the sandbox does not show it).
    const mounterSocket = join(dirs.top, 'm');
    const materialise = async (paths: readonly string[]): Promise<void> => {
      // Without a sandbox the builder sees the store itself.
      if (!sandboxed) return;
      await mountIntoSandbox(
        mounterSocket,
        paths.map((path) => [join(request.realStoreDir, basename(path)), join(request.storeDir, basename(path))] as const),
      );
    };
    const recursive = request.recursive ? await request.recursive.start(join(dirs.build, RECURSIVE_SOCKET), user, materialise) : undefined;
    let status: BuilderStatus;
    const spawned = process.hrtime.bigint();
    // Where the builder's outputs are on the host after a sandboxed build.
    let sandboxedStoreDir = dirs.root + request.storeDir;
    try {
      try {
        const description = describe(sandboxed);
        const view = layoutView(description.entries);
        if (view !== undefined) sandboxedStoreDir = view;
        status = await run(description);
        // The helper reported the builder's end, so it waited for the sandbox's PID 1: no process of the build is left.
        keptReusable = status.kind === 'exited' || status.kind === 'signaled';
      } catch (error) {
        const noNamespaces = error instanceof SandboxSetupError && /cannot create the sandbox's namespaces/.test(error.message);
        if (!noNamespaces || !settings.sandboxFallback || request.storeDir !== request.realStoreDir) throw error;
        request.onWarning?.(`${error.message}; building without a sandbox ('sandbox-fallback' is true)`);
        sandboxed = false;
        chmodSync(dirs.top, 0o711); // as createBuildDirs does for unsandboxed builds
        status = await run(describe(false));
      }
    } finally {
      // The builder is gone: so is its store, with every connection to it.
      await recursive?.stop();
    }
    const helperSeconds = Number(process.hrtime.bigint() - spawned) / 1e9;
    const outputs: Record<string, string> = {};
    if (status.kind === 'exited' && status.code === 0) {
      const producedIn = sandboxed ? sandboxedStoreDir : request.realStoreDir;
      for (const [name, path] of Object.entries(drv.outputs)) {
        const base = basename(path);
        if (!pathExists(join(producedIn, base))) continue;
        const dest = request.outputDest?.(name, path) ?? join(request.realStoreDir, base);
        // What stays in a view goes at the helper's next sweep; large outputs go now.
        const small = sandboxed && copyOutput(producedIn, base, dest);
        if (sandboxed && !small && keptDirs && producedIn === keptDirs.store) kept!.discard(keptDirs, join(producedIn, base), removeDir);
        outputs[name] = sandboxed ? dest : join(producedIn, base);
      }
    }
    return { status, outputs, sandboxed, helperSeconds, buildUid: user.uid, ...(request.keepBuildDir ? { buildDir: dirs.top } : {}) };
  } finally {
    if (keptDirs) kept!.release(keptDirs, keptReusable, removeDir);
    else if (!request.keepBuildDir) removeDir(dirs.top);
    user.release();
  }
}
