/**
 * What a request will do, before doing it (Nix's queryMissing): the derivations that will be
 * built, the paths that will be fetched, and the paths nothing can produce. `-r` prints this
 * first, `-r --dry-run` prints only this.
 */
import type { LocalStore } from '../store/localStore.js';
import { queryValidPaths } from '../store/queryPathInfo.js';
import { readDerivation } from '../store/readDerivation.js';
import { wantedOutputs } from './drvOutputs.js';
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

/**
 * Which of `paths` some substituter has, each substituter asked (in order) for what the ones
 * before it lack, all of a level's paths at once: a closure costs about its depth in round trips.
 */
async function queryLevel(substituters: readonly Substituter[], paths: string[], signal?: AbortSignal): Promise<Map<string, SubstitutableInfo>> {
  const found = new Map<string, SubstitutableInfo>();
  for (const substituter of substituters) {
    const wanted = paths.filter((p) => !found.has(p));
    if (wanted.length === 0) break;
    try {
      for (const [path, info] of await substituter.query(wanted, signal)) found.set(path, info);
    } catch (error) {
      if (signal?.aborted) throw error;
      // A cache that fails now is reported when a path is actually fetched; the plan goes on without it.
    }
  }
  return found;
}

/**
 * The plan when substituters are configured (Nix's queryMissing): the request is walked level
 * by level, each level's invalid paths asked of the caches together.
 */
export async function planWithSubstitutes(
  store: LocalStore,
  targets: readonly Target[],
  /** Asked for only when some path is missing: no request goes out when nothing is needed. */
  substituters: () => Promise<readonly Substituter[]>,
  signal?: AbortSignal,
): Promise<Plan> {
  const willBuild = new Set<string>();
  const willSubstitute = new Map<string, SubstitutableInfo>();
  const unknown = new Set<string>();
  const seen = new Set<string>();
  const isValid = (path: string): boolean => queryValidPaths(store.db, [path]).size > 0;
  let level: Target[] = [...targets];
  while (level.length > 0) {
    const next: Target[] = [];
    const paths: string[] = [];
    const derivations: { drvPath: string; outputs: string[] }[] = [];
    for (const target of level) {
      if (target.kind === 'path') {
        if (seen.has(target.path)) continue;
        seen.add(target.path);
        if (!isValid(target.path)) paths.push(target.path);
        continue;
      }
      if (seen.has(target.drvPath)) continue;
      seen.add(target.drvPath);
      if (!isValid(target.drvPath)) {
        unknown.add(target.drvPath);
        continue;
      }
      const outputs = wantedOutputs(store, target.drvPath).map((o) => o.path);
      const missing = outputs.filter((p) => !isValid(p));
      if (missing.length > 0) derivations.push({ drvPath: target.drvPath, outputs: missing });
    }
    const asked = [...new Set([...paths, ...derivations.flatMap((d) => d.outputs)])];
    const found = asked.length > 0 ? await queryLevel(await substituters(), asked, signal) : new Map<string, SubstitutableInfo>();
    const fetch = (path: string): void => {
      const info = found.get(path)!;
      willSubstitute.set(path, info);
      for (const ref of info.references) if (ref !== path) next.push({ kind: 'path', path: ref });
    };
    for (const path of paths) {
      if (found.has(path)) fetch(path);
      else unknown.add(path);
    }
    for (const { drvPath, outputs } of derivations) {
      if (outputs.every((p) => found.has(p))) {
        for (const path of outputs) {
          seen.add(path);
          fetch(path);
        }
        continue;
      }
      willBuild.add(drvPath);
      const drv = readDerivation(store, drvPath);
      for (const source of drv.inputSrcs) next.push({ kind: 'path', path: source });
      for (const inputDrv of drv.inputDrvs.keys()) next.push({ kind: 'derivation', drvPath: inputDrv });
    }
    level = next;
  }
  const infos = [...willSubstitute.values()];
  return {
    willBuild: [...willBuild].sort(),
    willSubstitute: [...willSubstitute.keys()].sort(),
    unknown: [...unknown].sort(),
    downloadSize: infos.reduce((sum, i) => sum + (i.downloadSize ?? 0), 0),
    narSize: infos.reduce((sum, i) => sum + (i.narSize ?? 0), 0),
  };
}

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
