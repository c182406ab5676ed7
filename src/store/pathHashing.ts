/**
 * Reading paths as NARs: hashing them, scanning them for references, copying them while
 * hashing. The store defines the service and does it on the calling thread; the pool
 * (one room up) offers the same service on worker threads, and whoever opens the store
 * chooses, so that the store never imports the pool.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readlinkSync, readSync } from 'node:fs';
import { encodeNix32 } from '../format/base32.js';
import { encodeString, encodeU64, padding } from '../format/wire.js';
import { Hash, type HashAlgo } from '../format/hash.js';
import { ReferenceScanner } from '../format/references.js';
import { dumpPath } from './nar/dumpPath.js';
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
  /** The nix32 sha256 of each file's NAR (what names its `.links` entry), in order. */
  hashFiles(files: readonly FileToHash[]): Promise<string[]>;
}

/** A regular file or a symlink (nix hard-links both when it optimises). */
export interface FileToHash {
  path: string;
  executable: boolean;
  symlink?: boolean;
}

/** One regular file's NAR hash, read with plain reads: a store file is never written again. */
function hashFileNar(file: FileToHash, buffer: Buffer): string {
  const hasher = createHash('sha256');
  if (file.symlink) {
    hasher.update(SYMLINK_HEADER);
    hasher.update(encodeString(readlinkSync(file.path, { encoding: 'buffer' })));
    hasher.update(FILE_TRAILER);
    return encodeNix32(hasher.digest());
  }
  const fd = openSync(file.path, 'r');
  let size: number;
  try {
    size = fstatSync(fd).size;
    hasher.update(file.executable ? EXECUTABLE_FILE_HEADER : FILE_HEADER);
    hasher.update(encodeU64(size));
    for (let done = 0; done < size; ) {
      const n = readSync(fd, buffer, 0, Math.min(buffer.length, size - done), done);
      if (n === 0) throw new Error(`file '${file.path}' became shorter while it was read`);
      hasher.update(buffer.subarray(0, n));
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  const pad = padding(size);
  if (pad > 0) hasher.update(Buffer.alloc(pad));
  hasher.update(FILE_TRAILER);
  return encodeNix32(hasher.digest());
}

const FILE_HEADER = Buffer.concat(['nix-archive-1', '(', 'type', 'regular', 'contents'].map((t) => encodeString(t)));
const EXECUTABLE_FILE_HEADER = Buffer.concat(['nix-archive-1', '(', 'type', 'regular', 'executable', '', 'contents'].map((t) => encodeString(t)));
const SYMLINK_HEADER = Buffer.concat(['nix-archive-1', '(', 'type', 'symlink', 'target'].map((t) => encodeString(t)));
const FILE_TRAILER = encodeString(')');

export function hashFilesHere(files: readonly FileToHash[]): Promise<string[]> {
  const buffer = Buffer.allocUnsafe(1 << 20);
  return Promise.resolve(files.map((f) => hashFileNar(f, buffer)));
}

export async function hashPathHere(realPath: string, hashParts: string[], useCaseHack: boolean): Promise<PathHashes> {
  const hasher = createHash('sha256');
  const scanner = hashParts.length > 0 ? new ReferenceScanner(hashParts) : undefined;
  let narSize = 0;
  // Refilled chunks are safe: each is hashed and scanned before the next is asked for.
  for await (const chunk of dumpPath(realPath, { useCaseHack, reuseChunks: true })) {
    hasher.update(chunk);
    scanner?.update(chunk);
    narSize += chunk.length;
  }
  return { narHash: new Hash('sha256', hasher.digest()), narSize, foundHashParts: scanner ? [...scanner.result()].sort() : [] };
}

/** Passes chunks through unchanged while feeding them to `observe`. */
async function* tap(chunks: AsyncIterable<Buffer>, observe: (chunk: Buffer) => void): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) {
    observe(chunk);
    yield chunk;
  }
}

export async function copyPathHere(source: string, target: string, useCaseHack: boolean, extraNarHashAlgo?: HashAlgo): Promise<CopiedPath> {
  // Refilled chunks are safe: the restore consumes each one before asking for the next.
  let nar: AsyncIterable<Buffer> = dumpPath(source, { useCaseHack, reuseChunks: true });
  const extra = extraNarHashAlgo ? createHash(extraNarHashAlgo) : undefined;
  if (extra) nar = tap(nar, (chunk) => extra.update(chunk));
  const { narHash, narSize } = await restorePath(target, nar, { useCaseHack, hashOnThread: true });
  return { narHash, narSize, extraNarHash: extra && extraNarHashAlgo ? new Hash(extraNarHashAlgo, extra.digest()) : undefined };
}

/** The service on the calling thread. */
export const hashingHere: PathHashing = { hashPath: hashPathHere, copyPath: copyPathHere, hashFiles: hashFilesHere };
