/**
 * Writing one file system object into the NAR output: small files in one go, large ones
 * streamed chunk by chunk, symlinks, and the error Nix gives for anything else.
 *
 * Large files are read on this thread, one chunk at a time: measured against parallel
 * positioned reads on the thread pool, a plain sequential read was as fast (the copy out of
 * the page cache runs at memory speed either way) and far simpler.
 */
import { closeSync, constants, fstatSync, openSync, readlinkSync, readSync } from 'node:fs';
import { NAR_FRAMES } from '../../format/nar/encode.js';
import type { ChunkWriter } from './chunkWriter.js';
import { Kind, showPath, type FsPath, type PlanItem } from './dumpPlanner.js';
import { NarDumpError } from './errors.js';
import type { Mirror } from './mirror.js';

/** Room for any header: frames (< 200 bytes), a name (<= 264) or a symlink target (<= 4104). */
export const HEADER_ROOM = 8192;
const TRAILER_ROOM = 64;
/** O_NONBLOCK: should a FIFO replace a file after readdir, opening it must not hang. */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * The common case without a generator: a regular file that fits in the current chunk is
 * written whole. False (nothing written) when it does not fit; dumpNode then streams it.
 */
export function dumpSmallFile(out: ChunkWriter, item: PlanItem, mirror: Mirror | undefined): boolean {
  const fd = openSync(item.path, READ_FLAGS);
  try {
    const stats = fstatSync(fd);
    const size = stats.size;
    if (!stats.isFile() || size > out.free - HEADER_ROOM) return false;
    // Owner execute bit only, like Nix; the other x bits do not count.
    const executable = (stats.mode & 0o100) !== 0;
    out.bytes(executable ? NAR_FRAMES.executable : NAR_FRAMES.regular);
    out.u64(size);
    const start = out.position;
    let left = size;
    while (left > 0) {
      const n = readSync(fd, out.buffer, out.position, left, null);
      if (n === 0) throw changed(item.path, size);
      out.position += n;
      left -= n;
    }
    if (mirror) {
      const copy = mirror.openFile(item.path, executable);
      let complete = false;
      try {
        mirror.write(copy, out.buffer, start, out.position);
        complete = true;
      } finally {
        mirror.closeFile(copy, complete);
      }
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
export function* writeBytes(out: ChunkWriter, bytes: Buffer): Generator<Buffer> {
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
export function* dumpNode(out: ChunkWriter, item: PlanItem, mirror: Mirror | undefined): Generator<Buffer> {
  if (item.kind === Kind.Regular) {
    yield* readFile(out, item.path, mirror);
  } else if (item.kind === Kind.Symlink) {
    const target = readlinkSync(item.path, { encoding: 'buffer' });
    out.bytes(NAR_FRAMES.symlink);
    out.bufferString(target);
    out.bytes(NAR_FRAMES.close);
    mirror?.symlink(item.path, target);
  } else {
    throw new NarDumpError(`file '${showPath(item.path)}' has an unsupported type`);
  }
  if (item.isEntry) out.bytes(NAR_FRAMES.close);
}

/** Reads a regular file here: small ones straight into the chunk, large ones streamed. */
function* readFile(out: ChunkWriter, path: FsPath, mirror: Mirror | undefined): Generator<Buffer> {
  // Stat the opened file rather than the path: one path lookup per file instead of two.
  const fd = openSync(path, READ_FLAGS);
  let copy: number | undefined;
  let complete = false;
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new NarDumpError(`file '${showPath(path)}' changed while it was being dumped`);
    // Owner execute bit only, like Nix; the other x bits do not count.
    const executable = (stats.mode & 0o100) !== 0;
    out.bytes(executable ? NAR_FRAMES.executable : NAR_FRAMES.regular);
    out.u64(stats.size);
    if (mirror) copy = mirror.openFile(path, executable);
    let left = stats.size;
    while (left > 0) {
      if (out.free === 0) yield out.take();
      const n = readSync(fd, out.buffer, out.position, Math.min(left, out.free), null);
      if (n === 0) throw changed(path, stats.size);
      if (copy !== undefined) mirror!.write(copy, out.buffer, out.position, out.position + n);
      out.position += n;
      left -= n;
    }
    complete = true;
    if (out.free < TRAILER_ROOM) yield out.take();
    out.zeros((8 - (stats.size % 8)) % 8);
  } finally {
    if (copy !== undefined) mirror!.closeFile(copy, complete);
    closeSync(fd);
  }
  out.bytes(NAR_FRAMES.close);
}
