/**
 * `nix copy --to file://…`: the closure of some valid paths written to a binary cache as Nix
 * writes one, so Nix (and tsnix) can substitute from it: `nix-cache-info`, a compressed NAR
 * per path under `nar/`, and a signed `<hashpart>.narinfo` (binary-cache.md §1–§5).
 */
import { HashSink, type Hash } from '../format/hash.js';
import { narInfoFingerprint, serializeNarInfo, type NarInfo } from '../format/narinfo.js';
import { parseNixCacheInfo, serializeNixCacheInfo } from '../format/nixCacheInfo.js';
import { signFingerprint, type SecretKey } from '../format/signing.js';
import { computeClosure, topoSortPaths } from '../store/closure.js';
import { PathModifiedError } from '../store/exportPaths.js';
import type { LocalStore } from '../store/localStore.js';
import { dumpPath } from '../store/nar/dumpPath.js';
import type { ValidPathInfo } from '../store/pathInfo.js';
import { requirePathInfo } from '../store/queryPathInfo.js';
import { checkCacheStoreDir, narInfoName } from './cacheNames.js';
import { compress, fileExtension, type Compression } from './compression.js';
import type { CacheTransport } from './transport.js';

export interface CopyToCacheOptions {
  compression: Compression;
  /** The codec's level (the `compression-level` store parameter); Nix's default when absent. */
  compressionLevel?: number;
  /** Each path's narinfo gets one `Sig:` per key, besides the signatures the store has. */
  secretKeys: readonly SecretKey[];
  /** Told about each path once its narinfo is written. */
  onCopy?: (path: string) => void;
}

/** Copies the closure of `paths`; returns the paths written (those the cache lacked), dependencies first. */
export async function copyToCache(store: LocalStore, transport: CacheTransport, paths: string[], options: CopyToCacheOptions): Promise<string[]> {
  for (const path of paths) requirePathInfo(store.db, path);
  // Kept from the garbage collector until this process ends: a path deleted while it is dumped
  // would otherwise reach the cache half-read (or fail with a confusing error).
  for (const path of paths) await store.addTempRoot(path);
  await ensureCacheInfo(transport, store.storeDir);

  const closure = topoSortPaths(store.db, computeClosure(store.db, paths));
  const present = await Promise.all(closure.map((path) => transport.hasFile(narInfoName(path, store.storeDir))));
  const missing = closure.filter((_, i) => !present[i]);

  // One path at a time, dependencies first: when a narinfo appears, the narinfos of all its
  // references are there already, so a reader never meets a path whose closure is incomplete.
  const copied: string[] = [];
  for (const path of missing) {
    await store.addTempRoot(path);
    await copyPath(store, transport, requirePathInfo(store.db, path), options);
    copied.push(path);
    options.onCopy?.(path);
  }
  return copied;
}

/** Writes `nix-cache-info` when the cache has none; a cache for another store directory is refused, as Nix does. */
async function ensureCacheInfo(transport: CacheTransport, storeDir: string): Promise<void> {
  const existing = await transport.getFile('nix-cache-info');
  if (existing === undefined) {
    await transport.putFile('nix-cache-info', Buffer.from(serializeNixCacheInfo({ storeDir, wantMassQuery: false })));
    return;
  }
  const info = parseNixCacheInfo(existing.toString('utf8'), `${transport.uri}/nix-cache-info`);
  checkCacheStoreDir(transport.uri, info.storeDir, storeDir);
}

/** The NAR of `info.path` compressed, with the hashes and sizes of both forms. */
async function packNar(
  store: LocalStore,
  info: ValidPathInfo,
  options: CopyToCacheOptions,
): Promise<{ file: Buffer; fileHash: Hash; narHash: Hash; narSize: number }> {
  const narSink = new HashSink('sha256');
  async function* hashedNar(): AsyncGenerator<Buffer> {
    for await (const chunk of dumpPath(store.layout.toReal(info.path), { useCaseHack: store.useCaseHack })) {
      narSink.update(chunk);
      yield chunk;
    }
  }
  // The compressed NAR is held in memory until it is written, as Nix does: its file name is the
  // hash of these very bytes, known only at the end. Compressed NARs are mostly far smaller than
  // the NARs; a temporary file would bound the memory for the rare huge one.
  const fileSink = new HashSink('sha256');
  const chunks: Buffer[] = [];
  for await (const chunk of compress(options.compression, hashedNar(), options.compressionLevel)) {
    fileSink.update(chunk);
    chunks.push(chunk);
  }
  return { file: Buffer.concat(chunks, fileSink.size), fileHash: fileSink.finish(), narHash: narSink.finish(), narSize: narSink.size };
}

async function copyPath(store: LocalStore, transport: CacheTransport, info: ValidPathInfo, options: CopyToCacheOptions): Promise<void> {
  const { file, fileHash, narHash, narSize } = await packNar(store, info, options);
  // Signing what the database says while uploading other bytes would publish a lie under our key.
  // (A row without a size, as very old Nix wrote, is checked by its hash alone.)
  if (!narHash.equals(info.narHash) || (info.narSize !== 0 && narSize !== info.narSize)) {
    throw new PathModifiedError(
      `refusing to copy corrupted path '${info.path}' to binary cache: its NAR hash is ${narHash.format('nix32')}, ` +
        `the database says ${info.narHash.format('nix32')} (check it with 'tsnix-store --verify --check-contents')`,
    );
  }
  // With `none` the file is the NAR itself, so FileHash equals NarHash, as in Nix's caches.
  const url = `nar/${fileHash.format('nix32', false)}.nar${fileExtension(options.compression)}`;
  // The name is the hash of the content: a file already there is this very file.
  if (!(await transport.hasFile(url))) await transport.putFile(url, file);

  const narInfo: NarInfo = {
    storePath: info.path,
    url,
    compression: options.compression,
    fileHash,
    fileSize: file.length,
    narHash,
    narSize,
    references: info.references,
    ...(info.deriver !== undefined ? { deriver: info.deriver } : {}),
    sigs: info.sigs,
    ...(info.ca !== undefined ? { ca: info.ca } : {}),
  };
  const fingerprint = narInfoFingerprint(narInfo);
  narInfo.sigs = [...info.sigs, ...options.secretKeys.map((key) => signFingerprint(key, fingerprint))];
  // Last: a reader that finds the narinfo finds its NAR too.
  await transport.putFile(narInfoName(info.path, store.storeDir), Buffer.from(serializeNarInfo(narInfo, store.storeDir)));
}
