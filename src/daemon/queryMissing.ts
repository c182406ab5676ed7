/**
 * QueryMissing: what realising some derived paths would build, fetch, or cannot make. No
 * substituters are consulted through the daemon yet, so nothing is "will substitute": a
 * missing output of a derivation is built, a missing source path is unknown.
 */
import { isDerivationPath } from '../format/storePath.js';
import type { LocalStore } from '../store/localStore.js';
import { queryValidPaths } from '../store/queryPathInfo.js';
import { readDerivation } from '../store/readDerivation.js';

export interface Missing {
  willBuild: Set<string>;
  willSubstitute: Set<string>;
  unknown: Set<string>;
}

/** `path`, `drv!out1,out2` or `drv!*`. */
export function parseDerivedPath(text: string): { path: string; outputs?: string[] | '*' } {
  const bang = text.indexOf('!');
  if (bang < 0) return { path: text };
  const rest = text.slice(bang + 1);
  return { path: text.slice(0, bang), outputs: rest === '*' ? '*' : rest.split(',') };
}

/** `visible`: what the client may see (a recursive build's store); anything else is unknown to it. */
export function queryMissing(store: LocalStore, targets: string[], visible: (path: string) => boolean = () => true): Missing {
  const missing: Missing = { willBuild: new Set(), willSubstitute: new Set(), unknown: new Set() };
  const visited = new Set<string>();
  const visit = (path: string, outputs: string[] | '*' | undefined): void => {
    const key = `${path}!${outputs === undefined ? '' : outputs === '*' ? '*' : [...outputs].sort().join(',')}`;
    if (visited.has(key)) return;
    visited.add(key);
    const valid = (paths: string[]): Set<string> => queryValidPaths(store.db, paths.filter(visible));
    if (outputs === undefined || !isDerivationPath(path)) {
      if (valid([path]).size === 0) missing.unknown.add(path);
      return;
    }
    if (valid([path]).size === 0) {
      missing.unknown.add(path);
      return;
    }
    const drv = readDerivation(store, path);
    const wanted = [...drv.outputs].filter(([name]) => outputs === '*' || outputs.includes(name)).map(([, o]) => o.path);
    if (wanted.every((p) => p !== '') && valid(wanted).size === wanted.length) return;
    missing.willBuild.add(path);
    for (const [input, names] of drv.inputDrvs) visit(input, names);
    for (const src of drv.inputSrcs) visit(src, undefined);
  };
  for (const target of targets) {
    const { path, outputs } = parseDerivedPath(target);
    visit(path, outputs);
  }
  return missing;
}
