/**
 * `tsnix-store -r PATHS` (and `--repair-path`): nix-store's realise. Prints what will be built
 * and fetched, builds, prints the outputs (or the roots made with --add-root) on stdout, and
 * exits with nix's status: 1, or 100–111 for failed, timed-out, mismatched builds.
 */
import { readlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildSettingsFrom } from '../../build/buildSettings.js';
import { groupId } from '../../build/sandbox/buildUsers.js';
import { BuildCancelledError } from '../../build/errors.js';
import { describePlan, type Plan } from '../../build/plan.js';
import { Scheduler } from '../../build/scheduler.js';
import { parseTarget, type Target } from '../../build/targets.js';
import { ensureStoreDirs } from '../../store/layout.js';
import { addIndirectRoot, replaceSymlink } from '../../store/roots.js';
import { openSubstituters } from '../../substituters/openSubstituters.js';
import type { LocalStore } from '../../store/localStore.js';
import { pathExists } from '../../store/pathExists.js';
import { UsageError, type ParsedArgs } from '../args.js';
import { followLinksToStorePath } from '../followLinks.js';
import { printLines, warn } from '../output.js';
import { colorWanted, createProgress, terminalWanted } from '../progress.js';
import { recursiveStore } from '../recursiveStore.js';
import { parseMachines } from '../../build/remote/machines.js';
import { RemoteBuilders } from '../../build/remote/remoteBuilders.js';


function targetOf(arg: string, store: LocalStore): Target {
  const bang = arg.indexOf('!');
  const path = followLinksToStorePath(bang >= 0 ? arg.slice(0, bang) : arg, store.storeDir);
  return parseTarget(bang >= 0 ? path + arg.slice(bang) : path);
}

function isStoreLink(path: string, store: LocalStore): boolean {
  try {
    return readlinkSync(path).startsWith(`${store.storeDir}/`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EINVAL') return false; // not a symlink
    throw error;
  }
}

/**
 * A permanent GC root, as Nix 2.8 makes one: never in the store, never over a file that is not
 * already a link into the store, and (with --indirect or not) registered through a link to it
 * under gcroots/auto named by the SHA-1 of its location.
 */
function addPermRoot(store: LocalStore, storePath: string, rootPath: string): string {
  const root = resolve(rootPath);
  if (root.startsWith(`${store.layout.realStoreDir}/`) || root.startsWith(`${store.storeDir}/`)) {
    throw new RootError(`creating a garbage collector root (${root}) in the Nix store is forbidden (are you running nix-build inside the store?)`);
  }
  if (pathExists(root) && !isStoreLink(root, store)) throw new RootError(`cannot create symlink '${root}'; already exists`);
  replaceSymlink(storePath, root);
  addIndirectRoot(store.layout, root);
  return root;
}

export class RootError extends Error {
  override name = 'RootError';
}

/** The gid of `build-users-group` when we are root and it exists (then builds run as its members). */
function buildGroupId(store: LocalStore): number | undefined {
  const group = store.settings.get('build-users-group');
  return process.getuid?.() !== 0 || group === '' ? undefined : groupId(group);
}

export async function opRealise(store: LocalStore, parsed: ParsedArgs): Promise<number> {
  if (parsed.check && parsed.repair) throw new UsageError("'--check' and '--repair' cannot be used together");
  // As Nix's multi-user store: root:nixbld 1775, so that a build without a sandbox, running as a
  // build user, can create its output in the store but not remove anyone else's.
  const gid = buildGroupId(store);
  if (gid !== undefined) await ensureStoreDirs(store.layout, gid);
  const targets = parsed.args.map((arg) => targetOf(arg, store));
  const events = createProgress({
    stream: process.stderr,
    isTTY: terminalWanted(process.env, process.stderr),
    color: colorWanted(process.env, process.stderr),
  });
  const mode = parsed.check ? 'check' : parsed.repair ? 'repair' : 'normal';
  const substituters = openSubstituters(store.settings, store.storeDir);
  const machines = parseMachines(store.settings.get('builders'), store.settings.get('system'));
  const remote = machines.length > 0 ? new RemoteBuilders(machines) : undefined;
  const scheduler = new Scheduler(store, { settings: buildSettingsFrom(store.settings), events, mode, substituters, recursive: recursiveStore, ...(remote ? { remote } : {}) });
  try {
    return await realiseWith(store, parsed, scheduler, targets, events);
  } finally {
    await Promise.all([...substituters.map((s) => s.close()), remote?.close()]);
  }
}

async function realiseWith(store: LocalStore, parsed: ParsedArgs, scheduler: Scheduler, targets: Target[], events: ReturnType<typeof createProgress>): Promise<number> {
  const announce = (plan: Plan): void => {
    const listing = describePlan(plan);
    if (listing.length > 0) process.stderr.write(listing.join('\n') + '\n');
    if (parsed.dryRun) return;
    if (!parsed.addRoot && targets.some((t) => t.kind === 'derivation' && !t.outputs)) {
      warn("you did not specify '--add-root'; the result might be removed by the garbage collector");
    }
  };
  if (parsed.dryRun) {
    announce(await scheduler.plan(targets));
    return 0;
  }
  let result;
  try {
    result = await scheduler.realiseAnnounced(targets, announce);
  } finally {
    events.finish();
  }
  const failed = result.targetFailures.some((f) => f !== undefined);
  // As nix-store: results (and roots) only when every target was realised.
  if (!failed) printLines(resultLines(store, parsed.addRoot, result.outputs));
  const reported = result.targetFailures.flatMap((f, i) => (f && !(f instanceof BuildCancelledError) ? [{ f, i }] : []));
  if (reported.length === 1) {
    process.stderr.write(`error: ${reported[0]!.f.message}\n`);
  } else if (reported.length > 1) {
    for (const { f } of reported) process.stderr.write(`error: ${f.message}\n`);
    const names = reported.map(({ i }) => `'${parsed.args[i]}'`).join(', ');
    process.stderr.write(`error: build of ${names} failed\n`);
  }
  return result.exitStatus;
}

/**
 * What -r prints: the output paths, or with --add-root the roots made for them. Roots are
 * numbered per argument as nix-store numbers them (ROOT, ROOT-2, …) with `-OUTPUT` appended
 * for outputs other than `out`.
 */
function resultLines(store: LocalStore, addRoot: string | undefined, outputs: { name: string; path: string }[][]): string[] {
  const lines: string[] = [];
  for (const [i, produced] of outputs.entries()) {
    for (const { name: outputName, path } of produced) {
      if (addRoot === undefined) {
        lines.push(path);
        continue;
      }
      let name = addRoot;
      if (i > 0) name += `-${i + 1}`;
      if (outputName !== 'out') name += `-${outputName}`;
      lines.push(addPermRoot(store, path, name));
    }
  }
  return lines;
}

/**
 * Repairs `paths` (for `--repair-path` and `--verify --check-contents --repair`): each damaged
 * one is fetched again or rebuilt by its deriver. Returns nix-store's exit status.
 */
export async function repairPaths(store: LocalStore, paths: string[]): Promise<number> {
  const events = createProgress({ stream: process.stderr, isTTY: terminalWanted(process.env, process.stderr), color: colorWanted(process.env, process.stderr) });
  const substituters = openSubstituters(store.settings, store.storeDir);
  const scheduler = new Scheduler(store, { settings: buildSettingsFrom(store.settings), events, mode: 'repair', substituters });
  let result;
  try {
    result = await scheduler.realise(paths.map((path) => ({ kind: 'path' as const, path })));
  } finally {
    events.finish();
    await Promise.all(substituters.map((s) => s.close()));
  }
  for (const failure of result.targetFailures) if (failure && !(failure instanceof BuildCancelledError)) process.stderr.write(`error: ${failure.message}\n`);
  return result.exitStatus;
}

export async function opRepairPath(store: LocalStore, parsed: ParsedArgs): Promise<number> {
  const gid = buildGroupId(store);
  if (gid !== undefined) await ensureStoreDirs(store.layout, gid);
  return repairPaths(store, parsed.args.map((arg) => followLinksToStorePath(arg, store.storeDir)));
}
