/**
 * What a request will do, before doing it (Nix's queryMissing): the derivations that will be
 * built, the paths that will be fetched, and the paths nothing can produce. `-r` prints this
 * first, `-r --dry-run` prints only this.
 */
import type { LocalStore } from '../store/localStore.js';
import { queryValidPaths } from '../store/queryPathInfo.js';
import { readDerivation } from '../store/readDerivation.js';
import { wantedOutputs } from './drvOutputs.js';
import type { Target } from './targets.js';

export interface Plan {
  willBuild: string[];
  willSubstitute: string[];
  unknown: string[];
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
  list(plan.willSubstitute, 'this path will be fetched:', 'these %d paths will be fetched:');
  list(plan.unknown, "don't know how to build this path:", "don't know how to build these paths:");
  return lines;
}
