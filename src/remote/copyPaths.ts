/**
 * Copying closures to and from another machine over the serve protocol, as `nix copy` does
 * with an `ssh://` store: only what the other side lacks, dependencies first, each path's
 * NAR checked against its hash (and, coming in, its signatures) before it is registered.
 */
import { checkSignatures, unpackChecked } from '../store/importChecks.js';
import { computeClosure, topoSort, topoSortPaths } from '../store/closure.js';
import { commitPaths } from '../store/commitPath.js';
import type { LocalStore } from '../store/localStore.js';
import { dumpPath } from '../store/nar/index.js';
import { makePathInfo } from '../store/pathInfo.js';
import { queryValidPaths, requirePathInfo } from '../store/queryPathInfo.js';
import type { ServeClient } from './serveClient.js';

/**
 * Sends the closures of `paths` that the remote lacks; returns what was sent. With
 * `substitute` (`builders-use-substitutes`) the remote first fetches what it can from its
 * own substituters, and only the rest is sent.
 */
export async function copyToRemote(store: LocalStore, client: ServeClient, paths: readonly string[], substitute = false): Promise<string[]> {
  const closure = topoSortPaths(store.db, computeClosure(store.db, paths));
  const present = await client.queryValidPaths(closure, false, substitute);
  const sent: string[] = [];
  for (const path of closure) {
    if (present.has(path)) continue;
    const info = requirePathInfo(store.db, path);
    await client.addToStoreNar(
      { path, deriver: info.deriver, references: info.references, narSize: info.narSize, narHash: info.narHash, ca: info.ca, sigs: info.sigs },
      dumpPath(store.layout.toReal(path), { useCaseHack: store.useCaseHack }),
    );
    sent.push(path);
  }
  return sent;
}

/**
 * Fetches the closures of `paths` that this store lacks. With `checkSigs` (and
 * `require-sigs`), a path must be signed by a trusted key or be content-addressed, as Nix
 * requires of paths from another store.
 */
export async function copyFromRemote(store: LocalStore, client: ServeClient, paths: readonly string[], checkSigs: boolean): Promise<string[]> {
  const closure = await client.queryClosure(paths);
  const infos = await client.queryPathInfos(closure);
  // What the remote says must hang together: the paths asked for, and everything they refer to.
  const inClosure = new Set(closure);
  for (const path of paths) if (!inClosure.has(path)) throw new Error(`'${client.uri}' left '${path}' out of its closure`);
  for (const path of closure) {
    const info = infos.get(path);
    if (!info) throw new Error(`path '${path}' is not valid on '${client.uri}'`);
    const outside = info.references.find((r) => !inClosure.has(r));
    if (outside !== undefined) throw new Error(`'${client.uri}' says '${path}' refers to '${outside}', which is not in the closure it sent`);
  }
  const valid = queryValidPaths(store.db, closure);
  const missing = topoSort(
    closure.filter((p) => !valid.has(p)),
    (p) => infos.get(p)!.references,
  );
  for (const path of missing) {
    const remote = infos.get(path)!;
    const info = makePathInfo({
      path,
      narHash: remote.narHash,
      narSize: remote.narSize,
      references: [...remote.references].sort(),
      sigs: remote.sigs,
      ...(remote.deriver !== undefined ? { deriver: remote.deriver } : {}),
      ...(remote.ca !== undefined ? { ca: remote.ca } : {}),
    });
    checkSignatures(info, store, checkSigs);
    // Rooted before it is valid: a collector running meanwhile must not take it.
    await store.addTempRoot(path);
    const temp = await client.dumpStorePath(path, (reader) => unpackChecked(store, reader, info));
    await commitPaths(store, [{ temp, info }]);
  }
  return missing;
}
