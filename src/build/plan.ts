/**
 * What a request will do, before doing it (Nix's queryMissing): the derivations that will be
 * built, the paths that will be fetched, and the paths nothing can produce. `-r` prints this
 * first, `-r --dry-run` prints only this.
 */
import type { LocalStore } from '../store/localStore.js';
import { queryValidPaths } from '../store/queryPathInfo.js';
import { readDerivation } from '../store/readDerivation.js';
import { wantedOutputs } from './drvOutputs.js';
import { substitutesAllowed } from './substitutesAllowed.js';
import type { SubstitutableInfo, Substituter } from './substituter.js';
import type { Target } from './targets.js';

export interface Plan {
  willBuild: string[];
  willSubstitute: string[];
  unknown: string[];
  /** Bytes to download and to unpack for `willSubstitute`, as far as the caches say. */
  downloadSize?: number;
  narSize?: number;
}

/** The plan without substituters: everything missing is built, or unknown. */
export function planRequest(store: LocalStore, targets: readonly Target[], substitutable: (path: string) => boolean = () => false): Plan {
  const willBuild = new Set<string>();
  const willSubstitute = new Set<string>();
  const unknown = new Set<string>();
  const seen = new Set<string>();
  const isValid = (path: string): boolean => queryValidPaths(store.db, [path]).size > 0;
  const pending: Target[] = [...targets];
  const visitPath = (path: string): void => {
    if (seen.has(path)) return;
    seen.add(path);
    if (isValid(path)) return;
    (substitutable(path) ? willSubstitute : unknown).add(path);
  };
  while (pending.length > 0) {
    const target = pending.pop()!;
    if (target.kind === 'path') {
      visitPath(target.path);
      continue;
    }
    const { drvPath } = target;
    if (seen.has(drvPath)) continue;
    seen.add(drvPath);
    if (!isValid(drvPath)) {
      unknown.add(drvPath);
      continue;
    }
    const outputs = wantedOutputs(store, drvPath).map((o) => o.path);
    if (queryValidPaths(store.db, outputs).size === outputs.length) continue;
    if (outputs.every(substitutable)) {
      for (const path of outputs) willSubstitute.add(path);
      continue;
    }
    willBuild.add(drvPath);
    const drv = readDerivation(store, drvPath);
    for (const source of drv.inputSrcs) pending.push({ kind: 'path', path: source });
    for (const inputDrv of drv.inputDrvs.keys()) pending.push({ kind: 'derivation', drvPath: inputDrv });
  }
  return { willBuild: [...willBuild].sort(), willSubstitute: [...willSubstitute].sort(), unknown: [...unknown].sort() };
}

/** The first substituter (in order) that has `path`; one that fails now is skipped (the goal reports it later). */
async function querySubstitutes(substituters: readonly Substituter[], path: string, signal?: AbortSignal): Promise<SubstitutableInfo | undefined> {
  for (const substituter of substituters) {
    try {
      const info = (await substituter.query([path], signal)).get(path);
      // An untrusted substitute is none (the goal would refuse it): the path is built or unknown.
      if (info) {
        await substituter.vouch(path, signal);
        return info;
      }
    } catch (error) {
      if (signal?.aborted) throw error;
    }
  }
  return undefined;
}

/**
 * The plan when substituters are configured (Nix's queryMissing). Every path is asked for as
 * soon as it is known to be needed, not level by level: the HTTP connections stay busy, and a
 * closure costs about (its paths / connections) round trips, or its depth when that is more.
 */
export interface PlanOptions {
  /** Asked for only when some path is missing: no request goes out when nothing is needed. */
  substituters: () => Promise<readonly Substituter[]>;
  signal?: AbortSignal;
  /** Told the paths asked for before the substituters are ranked (which costs a round trip). */
  prefetch?: (paths: string[]) => void;
  /** Paths that the goals of this very request made valid while the plan was worked out: still to be fetched, as far as the plan goes. */
  madeMeanwhile?: ReadonlySet<string>;
  /** `always-allow-substitutes`. */
  alwaysAllowSubstitutes?: boolean;
}

export async function planWithSubstitutes(store: LocalStore, targets: readonly Target[], options: PlanOptions): Promise<Plan> {
  const { substituters, signal, prefetch, madeMeanwhile, alwaysAllowSubstitutes = false } = options;
  const willBuild = new Set<string>();
  const willSubstitute = new Map<string, SubstitutableInfo>();
  const unknown = new Set<string>();
  const seen = new Set<string>();
  const isValid = (path: string): boolean => queryValidPaths(store.db, [path]).size > 0 && !madeMeanwhile?.has(path);
  let ranked = false;
  const query = async (path: string): Promise<SubstitutableInfo | undefined> => {
    // Until the substituters are ranked (each one's nix-cache-info, a round trip), the paths
    // of the first level are asked of every one of them meanwhile.
    if (!ranked) prefetch?.([path]);
    const ordered = await substituters();
    ranked = true;
    return querySubstitutes(ordered, path, signal);
  };

  const fetched = async (path: string, info: SubstitutableInfo): Promise<void> => {
    willSubstitute.set(path, info);
    await Promise.all(info.references.filter((r) => r !== path).map(visitPath));
  };
  const visitPath = async (path: string): Promise<void> => {
    if (seen.has(path)) return;
    seen.add(path);
    if (isValid(path)) return;
    const info = await query(path);
    if (info) await fetched(path, info);
    else unknown.add(path);
  };
  const visitDerivation = async (drvPath: string): Promise<void> => {
    if (seen.has(drvPath)) return;
    seen.add(drvPath);
    if (!isValid(drvPath)) {
      unknown.add(drvPath);
      return;
    }
    const missing = wantedOutputs(store, drvPath)
      .map((o) => o.path)
      .filter((p) => !isValid(p));
    if (missing.length === 0) return;
    const drv = readDerivation(store, drvPath);
    if (substitutesAllowed(drv, alwaysAllowSubstitutes)) {
      const infos = await Promise.all(missing.map(query));
      if (infos.every((i) => i !== undefined)) {
        for (const path of missing) seen.add(path);
        await Promise.all(missing.map((path, i) => fetched(path, infos[i]!)));
        return;
      }
    }
    willBuild.add(drvPath);
    await Promise.all([...drv.inputSrcs.map(visitPath), ...[...drv.inputDrvs.keys()].map(visitDerivation)]);
  };
  await Promise.all(targets.map((t) => (t.kind === 'path' ? visitPath(t.path) : visitDerivation(t.drvPath))));

  const infos = [...willSubstitute.values()];
  return {
    willBuild: [...willBuild].sort(),
    willSubstitute: [...willSubstitute.keys()].sort(),
    unknown: [...unknown].sort(),
    downloadSize: infos.reduce((sum, i) => sum + (i.downloadSize ?? 0), 0),
    narSize: infos.reduce((sum, i) => sum + (i.narSize ?? 0), 0),
  };
}

/** Nix's listing: "these 3 derivations will be built:" and so on, one path per indented line. */
export function describePlan(plan: Plan): string[] {
  const lines: string[] = [];
  const list = (paths: string[], one: string, many: string): void => {
    if (paths.length === 0) return;
    lines.push(paths.length === 1 ? one : many.replace('%d', String(paths.length)), ...paths.map((p) => `  ${p}`));
  };
  list(plan.willBuild, 'this derivation will be built:', 'these %d derivations will be built:');
  const sizes =
    plan.downloadSize !== undefined && plan.narSize !== undefined
      ? ` (${(plan.downloadSize / 1048576).toFixed(2)} MiB download, ${(plan.narSize / 1048576).toFixed(2)} MiB unpacked)`
      : '';
  list(plan.willSubstitute, `this path will be fetched${sizes}:`, `these %d paths will be fetched${sizes}:`);
  list(plan.unknown, "don't know how to build this path:", "don't know how to build these paths:");
  return lines;
}
