/**
 * Writing one file system object into the NAR output: small files in one go, large ones
 * streamed chunk by chunk, symlinks, and the error Nix gives for anything else.
 *
 * Large files are read on this thread, one chunk at a time: measured against parallel
 * positioned reads on the thread pool, a plain sequential read was as fast (the copy out of
 * the page cache runs at memory speed either way) and far simpler.
 */
import { closeSync, constants, fstatSync, openSync, readlinkSync, readSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { NAR_FRAMES } from '../../format/nar/encode.js';
import type { ChunkWriter } from './chunkWriter.js';
import { Kind, showPath, type FsPath, type PlanItem } from './dumpPlanner.js';
import { NarDumpError } from './errors.js';
import { errnoError, fileIo, ReadStatus, type FileIo } from '../fileIo.js';
import type { Mirror } from './mirror.js';

const errnos = osConstants.errno;

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
  const io = item.dirFd >= 0 ? fileIo() : null;
  if (io) return dumpSmallFileAt(io, out, item, mirror);
  const fd = openSync(item.path, READ_FLAGS);
  try {
    const stats = fstatSync(fd);
    const size = stats.size;
    if (!stats.isFile() || size > out.free - HEADER_ROOM) return false;
    const executable = fileHeader(out, stats.mode, size);
    const start = out.position;
    let left = size;
    while (left > 0) {
      const n = readSync(fd, out.buffer, out.position, left, null);
      if (n === 0) throw changed(item.path, size);
      out.position += n;
      left -= n;
    }
    endSmallFile(out, item, mirror, executable, start);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** A regular file's header and size; whether it is executable (the owner x bit only, like Nix). */
function fileHeader(out: ChunkWriter, mode: number, size: number): boolean {
  const executable = (mode & 0o100) !== 0;
  out.bytes(executable ? NAR_FRAMES.executable : NAR_FRAMES.regular);
  out.u64(size);
  return executable;
}

/** After a small file's contents (from `start` to the position): its copy, padding and closing frames. */
function endSmallFile(out: ChunkWriter, item: PlanItem, mirror: Mirror | undefined, executable: boolean, start: number): void {
  mirror?.writeFile(item, executable, out.buffer, start, out.position);
  out.zeros((8 - ((out.position - start) % 8)) % 8);
  out.bytes(NAR_FRAMES.close);
  if (item.isEntry) out.bytes(NAR_FRAMES.close);
}

/** [size, st_mode, failed call] from readFileAt: one array, so no object per file. */
const readResult = new Float64Array(3);
const FAILED_CALL = ['open', 'fstat', 'read'];
/** The longer of the two headers of a regular file, with its size field. */
const LONGEST_HEADER = NAR_FRAMES.executable.length + 8;

/**
 * dumpSmallFile with one addon call that opens, stats, reads and closes the file relative
 * to its directory. The size and mode come with the contents, so the contents are read in
 * after room for the longer header and moved back over the gap when the header is shorter
 * (a copy within a few cache-hot kilobytes).
 */
function dumpSmallFileAt(io: FileIo, out: ChunkWriter, item: PlanItem, mirror: Mirror | undefined): boolean {
  const readAt = out.position + LONGEST_HEADER;
  const limit = out.free - HEADER_ROOM - LONGEST_HEADER;
  if (limit < 0) return false;
  const status = io.readFileAt(item.dirFd, item.diskName, out.buffer, readAt, limit, readResult);
  if (status === ReadStatus.NotRead) return false;
  if (status < 0) throw errnoError(status, FAILED_CALL[readResult[2]!]!, showPath(item.path));
  const size = readResult[0]!;
  if (status === ReadStatus.Short) throw changed(item.path, size);
  const executable = fileHeader(out, readResult[1]!, size);
  const start = out.position;
  if (start !== readAt) out.buffer.copyWithin(start, readAt, readAt + size);
  out.position += size;
  endSmallFile(out, item, mirror, executable, start);
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

/** Where a dump's bytes go besides its chunks (see DumpPathOptions). */
export interface DumpOutputs {
  mirror: Mirror | undefined;
  sendFileTo: number | undefined;
}

/** A file, symlink or unsupported object, with the `)` of its entry. HEADER_ROOM is free. */
export function* dumpNode(out: ChunkWriter, item: PlanItem, outputs: DumpOutputs): Generator<Buffer> {
  const { mirror } = outputs;
  if (item.kind === Kind.Regular) {
    yield* readFile(out, item.path, outputs);
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
function* readFile(out: ChunkWriter, path: FsPath, { mirror, sendFileTo }: DumpOutputs): Generator<Buffer> {
  // Stat the opened file rather than the path: one path lookup per file instead of two.
  const fd = openSync(path, READ_FLAGS);
  let copy: number | undefined;
  let complete = false;
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new NarDumpError(`file '${showPath(path)}' changed while it was being dumped`);
    const executable = fileHeader(out, stats.mode, stats.size);
    if (mirror) copy = mirror.openFile(path, executable);
    let left = stats.size;
    if (sendFileTo !== undefined && left >= SEND_FILE_AFTER && copy === undefined) {
      // The consumer writes this chunk (the header) before asking for more; then the
      // contents go from the page cache to the output without passing through here.
      yield out.take();
      left -= sendContents(sendFileTo, fd, path, stats.size);
    }
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

/** Files from this size on are sent with sendfile(2) when the dump has an output descriptor. */
const SEND_FILE_AFTER = 64 * 1024;
/** What sendfile answers for outputs it cannot write to (a terminal, say): read and write instead. */
const CANNOT_SEND = new Set([-errnos.EINVAL, -errnos.ENOSYS, -errnos.EOPNOTSUPP]);
const waiter = new Int32Array(new SharedArrayBuffer(4));

/**
 * Sends the whole file (from offset 0) to `outFd` and returns the bytes sent: all of them,
 * or 0 when the output does not take sendfile at all (the caller then reads the file).
 */
function sendContents(outFd: number, fd: number, path: FsPath, size: number): number {
  const io = fileIo();
  if (!io) return 0;
  let sent = 0;
  while (sent < size) {
    const n = io.sendFile(outFd, fd, sent, size - sent);
    if (n === -errnos.EAGAIN) {
      // A non-blocking pipe that is full: wait for its reader, as writeSync's callers do.
      Atomics.wait(waiter, 0, 0, 1);
      continue;
    }
    if (n < 0 && sent === 0 && CANNOT_SEND.has(n)) return 0;
    if (n < 0) throw errnoError(n, 'sendfile', showPath(path));
    if (n === 0) throw changed(path, size);
    sent += n;
  }
  // Reads continue from the descriptor's own position, which sendfile with an offset leaves at 0.
  return sent;
}
