/**
 * dumpPath: the exact NAR of a file, symlink or directory tree, as `nix-store --dump`
 * writes it, in constant memory.
 *
 * Why it is shaped like this: the walk (DumpPlanner) keeps its own stack, so any depth
 * works; sync fs calls cost far less than promise round trips for many small files; tokens,
 * names and contents are copied straight into large output chunks; and the generator
 * suspends whenever a chunk is full, so a 10 GiB file is never in memory. For trees of many
 * files a helper thread dumps alternate subdirectories (SubtreeHelper): the per-file
 * syscalls are most of the cost, and they then run on two cores.
 */
import { availableParallelism } from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { closeSync, constants, fstatSync, openSync, readlinkSync, readSync } from 'node:fs';
import { NAR_FRAMES } from '../../format/nar/encode.js';
import { ChunkWriter } from './chunkWriter.js';
import { DumpPlanner, Kind, showPath, Step, type FsPath, type PlanItem } from './dumpPlanner.js';
import { NarDumpError } from './errors.js';
import { SubtreeHelper } from './subtreeHelper.js';
import { readLargeFile, type LargeFileRead } from './largeFileReader.js';

export interface DumpPathOptions {
  /** Strip `~nix~case~hack~N` suffixes from names (Nix's `use-case-hack`; off on Linux). */
  useCaseHack?: boolean;
  /** Size of the yielded chunks (default 1 MiB); the last one is smaller. */
  chunkSize?: number;
  /**
   * Refill one buffer instead of allocating each chunk: much faster, but a chunk is then
   * valid only until the next one is requested. For consumers that hash or write a chunk
   * synchronously before asking for more; never for ones that keep it (socket writes).
   */
  reuseChunks?: boolean;
  /**
   * Helper threads for large trees (default: 1 on the main thread of a machine with 2+
   * cores, 0 inside a worker thread such as the pool's; 0 = dump on this thread only).
   */
  threads?: number;
  /** Entries dumped before the helper thread is started (default 512; for tests and tuning). */
  helperAfterEntries?: number;
}

/** Room for any header: frames (< 200 bytes), a name (<= 264) or a symlink target (<= 4104). */
const HEADER_ROOM = 8192;
const TRAILER_ROOM = 64;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;
/** Entries dumped before a helper thread is started: below this, starting it costs more than it saves. */
const HELPER_AFTER_ENTRIES = 8192;

/** Files from this size on are read by the async dumpPath with parallel reads. */
const LARGE_FILE = 16 << 20;

/** The NAR of `realPath` as a stream of chunks. */
export async function* dumpPath(realPath: string, opts: DumpPathOptions = {}): AsyncGenerator<Buffer> {
  for (const part of dumpChunks(realPath, opts, true)) {
    if (Buffer.isBuffer(part)) yield part;
    else yield* readLargeFile(part, opts.reuseChunks ?? false);
  }
}

function defaultThreads(): number {
  return isMainThread && availableParallelism() > 1 ? 1 : 0;
}

/** The same chunks, synchronously: for worker threads that hash a path in one go. */
export function dumpPathSync(realPath: string, opts: DumpPathOptions = {}): Generator<Buffer> {
  return dumpChunks(realPath, opts, false) as Generator<Buffer>;
}

/** With `deferLargeFiles`, large files are yielded as LargeFileRead for the caller to read. */
function* dumpChunks(realPath: string, opts: DumpPathOptions, deferLargeFiles: boolean): Generator<Buffer | LargeFileRead> {
  const out = new ChunkWriter(Math.max(opts.chunkSize ?? 1 << 20, HEADER_ROOM * 2), opts.reuseChunks ?? false);
  out.deferLargeFiles = deferLargeFiles;
  const useCaseHack = opts.useCaseHack ?? false;
  const planner = new DumpPlanner(realPath, useCaseHack);
  const helper =
    (opts.threads ?? defaultThreads()) > 0
      ? { useCaseHack, after: opts.helperAfterEntries ?? HELPER_AFTER_ENTRIES, started: undefined as SubtreeHelper | undefined }
      : undefined;
  try {
    out.bytes(NAR_FRAMES.magic);
    yield* dumpTree(out, planner, helper);
    if (out.position > 0) yield out.take();
  } finally {
    helper?.started?.stop();
  }
}

/**
 * Writes the node at the planner's root (no magic), yielding full chunks. With `helper`, a
 * helper thread is started once the tree proves large and takes alternate subdirectories.
 */
export function* dumpTree(
  out: ChunkWriter,
  planner: DumpPlanner,
  helper: { useCaseHack: boolean; after: number; started: SubtreeHelper | undefined } | undefined,
): Generator<Buffer | LargeFileRead> {
  let entries = 0;
  for (;;) {
    const item = planner.next();
    if (!item) return;
    if (out.free < HEADER_ROOM) yield out.take();
    if (item.step === Step.Entry) {
      out.bytes(NAR_FRAMES.entry);
      out.latin1String(item.name);
      out.bytes(NAR_FRAMES.node);
      if (helper && ++entries % 64 === 0) {
        if (!helper.started && entries > helper.after) {
          helper.started = new SubtreeHelper(helper.useCaseHack);
          planner.delegator = helper.started;
        } else if (helper.started?.wantsWork) {
          planner.delegateRemaining();
        }
      }
    } else if (item.step === Step.DirectoryStart) {
      out.bytes(NAR_FRAMES.directory);
    } else if (item.step === Step.DirectoryEnd) {
      out.bytes(NAR_FRAMES.close);
      if (item.isEntry) out.bytes(NAR_FRAMES.close);
    } else if (item.kind === Kind.Delegated) {
      const started = helper!.started!;
      if (started.takeBack(item.job)) {
        planner.expand(item);
      } else {
        for (const part of started.fragment(item.job)) yield* writeBytes(out, part);
        if (item.isEntry) out.bytes(NAR_FRAMES.close);
      }
    } else if (item.kind !== Kind.Regular || !dumpSmallFile(out, item)) {
      yield* dumpNode(out, item);
    }
  }
}

/**
 * The common case without a generator: a regular file that fits in the current chunk is
 * written whole. False (nothing written) when it does not fit; dumpNode then streams it.
 */
function dumpSmallFile(out: ChunkWriter, item: PlanItem): boolean {
  const fd = openSync(item.path, READ_FLAGS);
  try {
    const stats = fstatSync(fd);
    const size = stats.size;
    if (!stats.isFile() || size > out.free - HEADER_ROOM) return false;
    // Owner execute bit only, like Nix; the other x bits do not count.
    out.bytes(stats.mode & 0o100 ? NAR_FRAMES.executable : NAR_FRAMES.regular);
    out.u64(size);
    let left = size;
    while (left > 0) {
      const n = readSync(fd, out.buffer, out.position, left, null);
      if (n === 0) throw changed(item.path, size);
      out.position += n;
      left -= n;
    }
    out.zeros((8 - (size % 8)) % 8);
  } finally {
    closeSync(fd);
  }
  out.bytes(NAR_FRAMES.close);
  if (item.isEntry) out.bytes(NAR_FRAMES.close);
  return true;
}

function changed(path: FsPath, size: number): NarDumpError {
  return new NarDumpError(`file '${showPath(path)}' changed while it was being dumped: expected ${size} bytes`);
}

/** Copies bytes into the output, across as many chunks as needed. */
function* writeBytes(out: ChunkWriter, bytes: Buffer): Generator<Buffer> {
  let at = 0;
  while (bytes.length - at > out.free - HEADER_ROOM) {
    const part = out.free - HEADER_ROOM;
    out.bytes(bytes.subarray(at, at + part));
    at += part;
    yield out.take();
  }
  out.bytes(bytes.subarray(at));
}

/** A file, symlink or unsupported object, with the `)` of its entry. HEADER_ROOM is free. */
function* dumpNode(out: ChunkWriter, item: PlanItem): Generator<Buffer | LargeFileRead> {
  if (item.kind === Kind.Regular) {
    yield* readFile(out, item.path);
  } else if (item.kind === Kind.Symlink) {
    out.bytes(NAR_FRAMES.symlink);
    out.bufferString(readlinkSync(item.path, { encoding: 'buffer' }));
    out.bytes(NAR_FRAMES.close);
  } else {
    throw new NarDumpError(`file '${showPath(item.path)}' has an unsupported type`);
  }
  if (item.isEntry) out.bytes(NAR_FRAMES.close);
}

/** Reads a regular file here: small ones straight into the chunk, large ones streamed. */
function* readFile(out: ChunkWriter, path: FsPath): Generator<Buffer | LargeFileRead> {
  // Stat the opened file rather than the path: one path lookup per file instead of two.
  const fd = openSync(path, READ_FLAGS);
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new NarDumpError(`file '${showPath(path)}' changed while it was being dumped`);
    // Owner execute bit only, like Nix; the other x bits do not count.
    out.bytes(stats.mode & 0o100 ? NAR_FRAMES.executable : NAR_FRAMES.regular);
    out.u64(stats.size);
    let left = stats.size;
    if (out.deferLargeFiles && left >= LARGE_FILE) {
      if (out.position > 0) yield out.take();
      yield { fd, size: left, display: showPath(path) };
      left = 0;
    }
    while (left > 0) {
      if (out.free === 0) yield out.take();
      const n = readSync(fd, out.buffer, out.position, Math.min(left, out.free), null);
      if (n === 0) throw changed(path, stats.size);
      out.position += n;
      left -= n;
    }
    if (out.free < TRAILER_ROOM) yield out.take();
    out.zeros((8 - (stats.size % 8)) % 8);
  } finally {
    closeSync(fd);
  }
  out.bytes(NAR_FRAMES.close);
}
