/**
 * `nix-store --verify [--check-contents]` and `--verify-path`: the database against
 * the files. A valid path whose files are gone is dropped from the database when
 * nothing refers to it (as Nix does); a path whose contents no longer hash to the
 * recorded NAR hash is reported.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeNix32 } from '../format/base32.js';
import type { Hash } from '../format/hash.js';
import { BadHashError } from '../format/errors.js';
import { invalidatePaths } from './invalidate.js';
import type { LocalStore } from './localStore.js';
import { queryAllValidPaths } from './queryPaths.js';
import { requirePathInfo } from './queryPathInfo.js';
import { NarDumpError } from './nar/errors.js';
import { removeStaleTempDirs } from './tempPath.js';
import { queryReferrers } from './references.js';
import { pathExists } from './pathExists.js';

export interface VerifyReport {
  /** True when every problem found was fixed (or there was none). */
  allFixed: boolean;
}

/** Hashes paths with the store's hashing service, a few at a time so that memory and open files stay bounded. */
async function forEachHashed<T>(
  store: LocalStore,
  items: T[],
  realPathOf: (item: T) => string,
  useCaseHack: boolean,
  onHash: (item: T, narHash: Hash) => void,
  onError: (item: T, error: Error) => void,
): Promise<void> {
  const inFlight = 8;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      let narHash: Hash;
      try {
        narHash = (await store.hashing.hashPath(realPathOf(item), [], useCaseHack)).narHash;
      } catch (e) {
        if (!(e instanceof NarDumpError) && typeof (e as NodeJS.ErrnoException).code !== 'string') throw e;
        onError(item, e as Error);
        continue;
      }
      onHash(item, narHash);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, items.length) }, worker));
}

/** Checks the given valid paths' contents; reports each modified one. Returns true when all match. */
export async function verifyPathContents(store: LocalStore, paths: string[], report: (message: string) => void, damaged: string[] = []): Promise<boolean> {
  let ok = true;
  const infos = paths.map((p) => requirePathInfo(store.db, p));
  await forEachHashed(
    store,
    infos,
    (info) => store.layout.toReal(info.path),
    store.useCaseHack,
    (info, narHash) => {
      if (!narHash.equals(info.narHash)) {
        ok = false;
        damaged.push(info.path);
        report(`path '${info.path}' was modified! expected hash '${info.narHash.format('nix32')}', got '${narHash.format('nix32')}'`);
      }
    },
    (info, error) => {
      // A path that cannot even be read (a FIFO put in its place, no permission) is reported,
      // and the check goes on with the others, as nix's does.
      ok = false;
      damaged.push(info.path);
      report(`error: checking path '${info.path}': ${error.message}`);
    },
  );
  return ok;
}

/** `.links/` holds files named after the nix32 NAR hash of their content (store optimisation). */
async function verifyLinks(store: LocalStore, report: (message: string) => void): Promise<boolean> {
  let names: string[];
  try {
    names = readdirSync(store.layout.linksDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw e;
  }
  let ok = true;
  const onError = (name: string, error: Error): void => {
    ok = false;
    report(`error: checking link '${join(store.layout.linksDir, name)}': ${error.message}`);
  };
  await forEachHashed(store, names, (name) => join(store.layout.linksDir, name), false, (name, narHash) => {
    let expected: Buffer | undefined;
    try {
      expected = decodeNix32(name, 32);
    } catch (e) {
      // Not a link name of ours: not checked.
      if (!(e instanceof BadHashError)) throw e;
    }
    if (expected && !expected.equals(narHash.digest)) {
      ok = false;
      report(`link '${join(store.layout.linksDir, name)}' was modified! expected hash '${name}', got '${narHash.toNix32()}'`);
    }
  }, onError);
  return ok;
}

/**
 * `--verify`. With `repair` (given by whoever can build or fetch: the store cannot), missing
 * paths that others still refer to and paths whose contents changed are handed to it; it
 * answers whether they are sound again.
 */
export async function verifyStore(
  store: LocalStore,
  checkContents: boolean,
  report: (message: string) => void,
  repair?: (paths: string[]) => Promise<boolean>,
): Promise<VerifyReport> {
  const toRepair: string[] = [];
  let allFixed = true;
  report('reading the Nix store...');
  const valid = queryAllValidPaths(store.db);
  report('checking path existence...');
  const missing = valid.filter((p) => !pathExists(store.layout.toReal(p)));
  const missingSet = new Set(missing);
  // A missing path can be dropped when every path referring to it is dropped too: start from
  // all missing paths and take out, until nothing changes, those with a referrer left behind.
  const droppable = new Set(missing);
  for (let changed = true; changed; ) {
    changed = false;
    for (const path of droppable) {
      if (queryReferrers(store.db, path).some((r) => r !== path && !droppable.has(r))) {
        droppable.delete(path);
        changed = true;
      }
    }
  }
  for (const path of missing) {
    if (droppable.has(path)) {
      report(`path '${path}' disappeared, removing from database...`);
    } else {
      report(`path '${path}' disappeared, but it still has valid referrers!`);
      if (repair) toRepair.push(path);
      else allFixed = false;
    }
  }
  if (droppable.size > 0) invalidatePaths(store.db, droppable);
  for (const name of removeStaleTempDirs(store.layout)) report(`removed '${name}', left in the store by a process that is gone`);
  if (checkContents) {
    report('checking link hashes...');
    if (!(await verifyLinks(store, report))) allFixed = false;
    report('checking store hashes...');
    const present = valid.filter((p) => !missingSet.has(p));
    if (!(await verifyPathContents(store, present, report, toRepair)) && !repair) allFixed = false;
  }
  if (repair && toRepair.length > 0 && !(await repair(toRepair))) allFixed = false;
  return { allFixed };
}
