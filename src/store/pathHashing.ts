/**
 * Reading paths as NARs: hashing them, scanning them for references, copying them while
 * hashing. The store defines the service and does it on the calling thread; the pool
 * (one room up) offers the same service on worker threads, and whoever opens the store
 * chooses, so that the store never imports the pool.
 */
import { createHash, type Hash as NodeHash } from 'node:crypto';
import { Hash, type HashAlgo } from '../format/hash.js';
import { ReferenceScanner } from '../format/references.js';
import { dumpPath, dumpPathSync } from './nar/dumpPath.js';
import { NarHasher } from './nar/narHasher.js';
import { SubtreeHelper } from './nar/subtreeHelper.js';
import { restorePath } from './nar/restorePath.js';

export interface PathHashes {
  narHash: Hash;
  narSize: number;
  /** The candidate hash parts found in the NAR, sorted. */
  foundHashParts: string[];
}

export interface CopiedPath {
  narHash: Hash;
  narSize: number;
  /** The NAR hashed with another algorithm, when asked for. */
  extraNarHash?: Hash;
}

export interface PathHashing {
  /** Reads `realPath` once: NAR hash, NAR size, and which of `hashParts` occur in it. */
  hashPath(realPath: string, hashParts: string[], useCaseHack: boolean): Promise<PathHashes>;
  /** Copies `source` to `target` (which must not exist) as its NAR, hashing in the same read. */
  copyPath(source: string, target: string, useCaseHack: boolean, extraNarHashAlgo?: HashAlgo): Promise<CopiedPath>;
}

/** NAR hash, size and found hash parts of a dump. Refilled chunks are safe: each is hashed and scanned before the next is asked for. */
function hashDump(chunks: Iterable<Buffer>, hashParts: string[]): PathHashes {
  const hasher = createHash('sha256');
  const scanner = hashParts.length > 0 ? new ReferenceScanner(hashParts) : undefined;
  let narSize = 0;
  for (const chunk of chunks) {
    hasher.update(chunk);
    scanner?.update(chunk);
    narSize += chunk.length;
  }
  return { narHash: new Hash('sha256', hasher.digest()), narSize, foundHashParts: scanner ? [...scanner.result()].sort() : [] };
}

export async function hashPathHere(realPath: string, hashParts: string[], useCaseHack: boolean): Promise<PathHashes> {
  return hashDump(dumpPathSync(realPath, { useCaseHack, reuseChunks: true }), hashParts);
}

/**
 * The same for a small tree, with small chunks and no helper thread: a build output of a few
 * bytes needs no MiB of buffer (external memory that makes V8 collect sooner).
 */
export function hashSmallPathHere(realPath: string, hashParts: string[]): PathHashes {
  return hashDump(dumpPathSync(realPath, { reuseChunks: true, chunkSize: 64 * 1024, threads: 0 }), hashParts);
}

/** Passes chunks through unchanged while feeding them to `observe`. */
async function* tap(chunks: AsyncIterable<Buffer>, observe: (chunk: Buffer) => void): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) {
    observe(chunk);
    yield chunk;
  }
}

export async function copyPathHere(source: string, target: string, useCaseHack: boolean, extraNarHashAlgo?: HashAlgo): Promise<CopiedPath> {
  const extra = extraNarHashAlgo ? createHash(extraNarHashAlgo) : undefined;
  const result = useCaseHack ? await copyThroughNar(source, target, extra) : await copyAlongsideNar(source, target, extra);
  return { ...result, extraNarHash: extra && extraNarHashAlgo ? new Hash(extraNarHashAlgo, extra.digest()) : undefined };
}

/**
 * The copy is made by the dumper itself, from the bytes it puts into the NAR, and the NAR
 * is only hashed (on another thread once it proves large). A helper thread takes every
 * other subdirectory of a large tree, as in a plain dump: per-file system calls are most
 * of the cost, even inside a pool worker that has nothing else to do meanwhile.
 */
async function copyAlongsideNar(source: string, target: string, extra: NodeHash | undefined): Promise<{ narHash: Hash; narSize: number }> {
  const hasher = new NarHasher(true);
  try {
    // Refilled chunks are safe: each is hashed (copied into the hashing ring) before the next.
    for (const chunk of dumpPathSync(source, { reuseChunks: true, copyTo: target, threads: 1 })) {
      hasher.consume(chunk);
      extra?.update(chunk);
    }
  } catch (e) {
    await hasher.abort();
    await SubtreeHelper.allStopped();
    throw e;
  }
  return await hasher.finish();
}

/** With the case hack, names on disk differ from the NAR's: restore the NAR, re-hacking them. */
async function copyThroughNar(source: string, target: string, extra: NodeHash | undefined): Promise<{ narHash: Hash; narSize: number }> {
  // Refilled chunks are safe: the restore consumes each one before asking for the next.
  let nar: AsyncIterable<Buffer> = dumpPath(source, { useCaseHack: true, reuseChunks: true });
  if (extra) nar = tap(nar, (chunk) => extra.update(chunk));
  return await restorePath(target, nar, { useCaseHack: true, hashOnThread: true });
}

/** The service on the calling thread. */
export const hashingHere: PathHashing = { hashPath: hashPathHere, copyPath: copyPathHere };
