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
import { NAR_FRAMES } from '../../format/nar/encode.js';
import { ChunkWriter } from './chunkWriter.js';
import { DumpPlanner, Kind, Step } from './dumpPlanner.js';
import { dumpNode, dumpSmallFile, HEADER_ROOM, writeBytes, type DumpOutputs } from './dumpNode.js';
import { Mirror } from './mirror.js';
import { SubtreeHelper } from './subtreeHelper.js';

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
   * Helper threads for large trees: 0 dumps on this thread only, any other value uses one
   * (default: 1 on the main thread of a machine with 2+ cores, 0 inside a worker thread
   * such as the pool's, which already runs several dumps at once).
   */
  threads?: number;
  /** Entries dumped before the helper thread is started (default 8192; for tests and tuning). */
  helperAfterEntries?: number;
  /**
   * Also copy the tree to this path (which must not exist), with the store's modes and
   * times, from the bytes that go into the NAR (see Mirror). Not with `useCaseHack`.
   */
  copyTo?: string;
  /**
   * The descriptor the consumer writes the chunks to, in order, each before asking for the
   * next: large files' contents are then sent there directly (sendfile) and are not in
   * the chunks. For `--dump` to stdout; never for a consumer that hashes or keeps chunks.
   */
  sendFileTo?: number;
}

/** Entries dumped before a helper thread is started: below this, starting it costs more than it saves. */
const HELPER_AFTER_ENTRIES = 8192;

/** The NAR of `realPath` as a stream of chunks. */
export async function* dumpPath(realPath: string, opts: DumpPathOptions = {}): AsyncGenerator<Buffer> {
  yield* dumpPathSync(realPath, opts);
}

function defaultThreads(): number {
  return isMainThread && availableParallelism() > 1 ? 1 : 0;
}

/** The same chunks, synchronously: for worker threads that hash a path in one go. */
export function* dumpPathSync(realPath: string, opts: DumpPathOptions = {}): Generator<Buffer> {
  const out = new ChunkWriter(Math.max(opts.chunkSize ?? 1 << 20, HEADER_ROOM * 2), opts.reuseChunks ?? false);
  const useCaseHack = opts.useCaseHack ?? false;
  if (useCaseHack && opts.copyTo !== undefined) throw new Error('dumpPath: copyTo cannot undo the case hack');
  const planner = new DumpPlanner(realPath, useCaseHack);
  const mirror = opts.copyTo === undefined ? undefined : new Mirror(realPath, opts.copyTo);
  const helper =
    (opts.threads ?? defaultThreads()) > 0
      ? { useCaseHack, after: opts.helperAfterEntries ?? HELPER_AFTER_ENTRIES, started: undefined as SubtreeHelper | undefined }
      : undefined;
  try {
    out.bytes(NAR_FRAMES.magic);
    yield* dumpTree(out, planner, helper, { mirror, sendFileTo: opts.sendFileTo });
    if (out.position > 0) yield out.take();
  } finally {
    planner.close();
    mirror?.close();
    helper?.started?.stop();
  }
}

/**
 * Writes the node at the planner's root (no magic), yielding full chunks. With `helper`, a
 * helper thread is started once the tree proves large and takes alternate subdirectories.
 * With a mirror, each entry is also copied (the helper copies the subdirectories it takes).
 */
export function* dumpTree(
  out: ChunkWriter,
  planner: DumpPlanner,
  helper: { useCaseHack: boolean; after: number; started: SubtreeHelper | undefined } | undefined,
  outputs: DumpOutputs,
): Generator<Buffer> {
  const { mirror } = outputs;
  let entries = 0;
  let helperDue = false;
  for (;;) {
    // Only once the queue is drained: every directory the planner has opened has then been
    // started here (and copied), so no work handed out can need a directory not yet made.
    if (helperDue && planner.queued === 0) {
      helperDue = false;
      if (!helper!.started && entries > helper!.after) {
        helper!.started = new SubtreeHelper(helper!.useCaseHack, mirror);
        planner.delegator = helper!.started;
      } else if (helper!.started?.wantsWork) {
        planner.delegateRemaining();
      }
    }
    const item = planner.next();
    if (!item) return;
    if (out.free < HEADER_ROOM) yield out.take();
    if (item.step === Step.Entry) {
      out.bytes(NAR_FRAMES.entry);
      out.latin1String(item.name);
      out.bytes(NAR_FRAMES.node);
      if (helper && ++entries % 64 === 0) helperDue = true;
    } else if (item.step === Step.DirectoryStart) {
      out.bytes(NAR_FRAMES.directory);
      mirror?.directory(item.path);
    } else if (item.step === Step.DirectoryEnd) {
      out.bytes(NAR_FRAMES.close);
      if (item.isEntry) out.bytes(NAR_FRAMES.close);
      planner.closeDirectory(item);
      mirror?.directoryEnd(item.path);
    } else if (item.kind === Kind.Delegated) {
      const started = helper!.started!;
      if (started.takeBack(item.job)) {
        planner.expand(item);
      } else {
        for (const part of started.fragment(item.job)) yield* writeBytes(out, part);
        if (item.isEntry) out.bytes(NAR_FRAMES.close);
      }
    } else if (item.kind !== Kind.Regular || !dumpSmallFile(out, item, mirror)) {
      yield* dumpNode(out, item, outputs);
    }
  }
}
