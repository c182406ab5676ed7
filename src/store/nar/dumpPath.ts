/**
 * dumpPath: the exact NAR of a file, symlink or directory tree, as `nix-store --dump`
 * writes it, in constant memory.
 *
 * Why it is shaped like this: the walk is a synchronous generator with its own stack of
 * open directories (no recursion, so any depth), using sync fs calls (for many small files
 * they cost far less than promise round trips), and it copies tokens, names and file contents
 * straight into large output chunks (no per-token buffers). It suspends whenever a chunk is
 * full, so a 10 GiB file is never in memory.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Dirent, type Stats } from 'node:fs';
import { NAR_FRAMES } from '../../format/nar/encode.js';
import { unhackDirectory } from '../../format/nar/caseHack.js';
import { ChunkWriter } from './chunkWriter.js';
import { NarDumpError } from './errors.js';

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
}

type FsPath = string | Buffer;

/** What readdir's d_type said an entry is; the file itself is opened without following links. */
const enum Kind {
  Regular,
  Symlink,
  Directory,
  Other,
}

interface OpenDirectory {
  path: FsPath;
  /** Entry names in NAR order, their names on disk (the same unless the case hack renamed) and kinds. */
  narNames: string[];
  diskNames: string[];
  kinds: Kind[];
  index: number;
  /** Whether this directory is an entry of another one (its `)` closes the entry too). */
  isEntry: boolean;
}

/** Room for any header: frames (< 200 bytes), a name (<= 264) or a symlink target (<= 4104). */
const HEADER_ROOM = 8192;
const TRAILER_ROOM = 64;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;
const NON_ASCII = /[^\x00-\x7f]/;

/** The NAR of `realPath` as a stream of chunks. */
export async function* dumpPath(realPath: string, opts: DumpPathOptions = {}): AsyncGenerator<Buffer> {
  yield* dumpPathSync(realPath, opts);
}

/** The same chunks, synchronously: for worker threads that hash a path in one go. */
export function* dumpPathSync(realPath: string, opts: DumpPathOptions = {}): Generator<Buffer> {
  const out = new ChunkWriter(Math.max(opts.chunkSize ?? 1 << 20, HEADER_ROOM * 2), opts.reuseChunks ?? false);
  const useCaseHack = opts.useCaseHack ?? false;
  const open: OpenDirectory[] = [];

  out.bytes(NAR_FRAMES.magic);
  yield* dumpNode(out, realPath, kindOf(lstatSync(realPath)), open, false, useCaseHack);

  while (open.length > 0) {
    const directory = open[open.length - 1]!;
    if (out.free < HEADER_ROOM) yield out.take();
    const index = directory.index++;
    if (index === directory.narNames.length) {
      open.pop();
      out.bytes(NAR_FRAMES.close);
      if (directory.isEntry) out.bytes(NAR_FRAMES.close);
      continue;
    }
    const path = childPath(directory.path, directory.diskNames[index]!);
    out.bytes(NAR_FRAMES.entry);
    out.latin1String(directory.narNames[index]!);
    out.bytes(NAR_FRAMES.node);
    yield* dumpNode(out, path, directory.kinds[index]!, open, true, useCaseHack);
  }
  if (out.position > 0) yield out.take();
}

function kindOf(entry: Stats | Dirent<string>): Kind {
  if (entry.isFile()) return Kind.Regular;
  if (entry.isDirectory()) return Kind.Directory;
  if (entry.isSymbolicLink()) return Kind.Symlink;
  return Kind.Other;
}

/**
 * Writes one node. A file or symlink is written whole (with the `)` of its entry); a
 * directory only gets its header and is pushed onto `open` for the main loop to fill.
 * The caller has made sure HEADER_ROOM bytes are free.
 */
function* dumpNode(out: ChunkWriter, path: FsPath, kind: Kind, open: OpenDirectory[], isEntry: boolean, useCaseHack: boolean): Generator<Buffer> {
  if (kind === Kind.Regular) {
    // Stat the opened file rather than the path: one path lookup per file instead of two.
    const fd = openSync(path, READ_FLAGS);
    try {
      const stats = fstatSync(fd);
      if (!stats.isFile()) throw new NarDumpError(`file '${showPath(path)}' changed while it was being dumped`);
      // Owner execute bit only, like Nix; the other x bits do not count.
      out.bytes(stats.mode & 0o100 ? NAR_FRAMES.executable : NAR_FRAMES.regular);
      out.u64(stats.size);
      if (stats.size <= out.free - TRAILER_ROOM) readInto(out, fd, stats.size, path);
      else yield* readLarge(out, fd, stats.size, path);
      if (out.free < TRAILER_ROOM) yield out.take();
      out.zeros((8 - (stats.size % 8)) % 8);
    } finally {
      closeSync(fd);
    }
    out.bytes(NAR_FRAMES.close);
  } else if (kind === Kind.Symlink) {
    out.bytes(NAR_FRAMES.symlink);
    out.bufferString(readlinkSync(path, { encoding: 'buffer' }));
    out.bytes(NAR_FRAMES.close);
  } else if (kind === Kind.Directory) {
    out.bytes(NAR_FRAMES.directory);
    open.push({ path, ...listDirectory(path, useCaseHack), index: 0, isEntry });
    return;
  } else {
    throw new NarDumpError(`file '${showPath(path)}' has an unsupported type`);
  }
  if (isEntry) out.bytes(NAR_FRAMES.close);
}

/**
 * Names in NAR order. latin1 maps each byte to one char, so names keep their exact bytes and
 * plain string order is the byte-wise order the NAR requires.
 */
function listDirectory(path: FsPath, useCaseHack: boolean): { narNames: string[]; diskNames: string[]; kinds: Kind[] } {
  const entries = readdirSync(path, { encoding: 'latin1', withFileTypes: true });
  if (useCaseHack) {
    const kindByName = new Map(entries.map((entry) => [entry.name, kindOf(entry)]));
    const hacked = unhackDirectory(entries.map((entry) => Buffer.from(entry.name, 'latin1')), showPath(path));
    const diskNames = hacked.map((entry) => entry.diskName.toString('latin1'));
    return { narNames: hacked.map((entry) => entry.narName.toString('latin1')), diskNames, kinds: diskNames.map((name) => kindByName.get(name)!) };
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  const names = entries.map((entry) => entry.name);
  return { narNames: names, diskNames: names, kinds: entries.map(kindOf) };
}

function readInto(out: ChunkWriter, fd: number, size: number, path: FsPath): void {
  let left = size;
  while (left > 0) {
    const n = readSync(fd, out.buffer, out.position, left, null);
    if (n === 0) throw changedSize(path, size);
    out.position += n;
    left -= n;
  }
}

function* readLarge(out: ChunkWriter, fd: number, size: number, path: FsPath): Generator<Buffer> {
  let left = size;
  while (left > 0) {
    if (out.free === 0) yield out.take();
    const n = readSync(fd, out.buffer, out.position, Math.min(left, out.free), null);
    if (n === 0) throw changedSize(path, size);
    out.position += n;
    left -= n;
  }
}

function changedSize(path: FsPath, size: number): NarDumpError {
  return new NarDumpError(`file '${showPath(path)}' changed while it was being dumped: expected ${size} bytes`);
}

/** Strings while every name is ASCII (cheap to join); raw bytes once a name is not. */
function childPath(parent: FsPath, name: string): FsPath {
  if (typeof parent === 'string' && !NON_ASCII.test(name)) return `${parent}/${name}`;
  const parentBytes = typeof parent === 'string' ? Buffer.from(parent, 'utf8') : parent;
  return Buffer.concat([parentBytes, Buffer.from(`/${name}`, 'latin1')]);
}

function showPath(path: FsPath): string {
  return typeof path === 'string' ? path : path.toString('utf8');
}
