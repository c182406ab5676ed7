/**
 * `nix-store --add` and `--add-fixed`: a file or tree from outside becomes a
 * content-addressed store path. The source is read once: its NAR streams into a
 * temporary copy inside the store while being hashed (by the store's hashing service,
 * which the CLI puts on the worker pool), and the copy is renamed into place once the
 * hash, and so the path, is known.
 */
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { renderContentAddress } from '../format/contentAddress.js';
import { Hash, type HashAlgo } from '../format/hash.js';
import { checkStorePathName, makeFixedOutputPath, type FileIngestionMethod } from '../format/storePath.js';
import { commitPath } from './commitPath.js';
import type { LocalStore } from './localStore.js';
import { makePathInfo } from './pathInfo.js';
import { TempDir } from './tempPath.js';

export class AddToStoreError extends Error {
  override name = 'AddToStoreError';
}

export interface AddOptions {
  method: FileIngestionMethod;
  algo: HashAlgo;
  /** Store path name; default: the source's base name. */
  name?: string;
}

export async function addPathToStore(store: LocalStore, source: string, options: AddOptions): Promise<string> {
  const sourcePath = resolve(source);
  // Named after the argument as given, as nix-store does (`--add .` gives a path named `.`).
  const name = options.name ?? basename(source);
  checkStorePathName(name, name);
  if (options.method === 'flat' && !lstatSync(sourcePath).isFile()) {
    throw new AddToStoreError(`'${sourcePath}' is not a regular file; add it with --recursive`);
  }
  const temp = await TempDir.create(store.layout, 'add', store.onWait);
  try {
    // The path's hash is of the NAR (recursive) or of the file's bytes (flat). A recursive
    // sha256 hash is the NAR hash itself, which copying computes anyway.
    const extraAlgo = options.method === 'recursive' && options.algo !== 'sha256' ? options.algo : undefined;
    const { narHash, narSize, extraNarHash } = await store.hashing.copyPath(sourcePath, temp.contentPath, store.useCaseHack, extraAlgo);
    // A flat hash is of the file's bytes: read them from our private copy, which cannot
    // change under us as the source could.
    const contentHash = options.method === 'flat' ? await hashFile(temp.contentPath, options.algo) : (extraNarHash ?? narHash);
    const path = makeFixedOutputPath(options.method, contentHash, name, store.storeDir);
    const info = makePathInfo({ path, narHash, narSize, ca: renderContentAddress({ method: options.method, hash: contentHash }) });
    await commitPath(store, temp, info);
    return path;
  } catch (e) {
    temp.remove();
    throw e;
  }
}

async function hashFile(path: string, algo: HashAlgo): Promise<Hash> {
  const hasher = createHash(algo);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hasher.update(chunk as Buffer);
  return new Hash(algo, hasher.digest());
}
