/**
 * The streaming NAR parser. It consumes exactly the bytes of one NAR (a NAR is
 * self-delimiting, which is how the protocols embed it), keeps its own stack of open
 * directories instead of recursing, and yields one event per grammar element. File contents
 * are never buffered: the consumer reads them from the `regular` event's iterable.
 */
import { WireReader, type ByteChunks } from '../wire.js';
import { WireFormatError } from '../errors.js';
import { MAX_NAME_LENGTH, MAX_TARGET_LENGTH, NAR_MAGIC } from './constants.js';
import { compareNames, invalidNameReason, showName } from './names.js';
import { invalidNar, NarTokenReader } from './tokenReader.js';
import { narPadding } from './encode.js';
import { NarFormatError } from '../errors.js';
import type { NarEvent, NarRegularEvent, NarSymlinkEvent, ParseNarOptions } from './events.js';

export type * from './events.js';

/** Files up to this size are handed out as one buffer; larger ones as the input's chunks. */
const WHOLE_FILE_LIMIT = 64 * 1024;

/** The contents of one regular file, read at most once, straight from the input. */
class FileContents implements AsyncIterable<Buffer> {
  private started = false;

  constructor(
    private readonly tokens: NarTokenReader,
    private left: number,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    if (this.started) throw new Error('the contents of a NAR file can be read only once');
    this.started = true;
    return this.read();
  }

  /** Small files in one read (bounded, and one await instead of a generator per chunk). */
  private async *read(): AsyncGenerator<Buffer> {
    if (this.left === 0) return;
    try {
      if (this.left <= WHOLE_FILE_LIMIT) {
        const contents = await this.wholeFile();
        if (contents) {
          this.left = 0;
          yield contents;
          return;
        }
      }
      for await (const chunk of this.tokens.reader.readChunks(this.left)) {
        this.left -= chunk.length;
        yield chunk;
      }
    } catch (err) {
      if (err instanceof WireFormatError) throw this.tokens.truncated('file contents');
      throw err;
    }
  }

  /**
   * The whole contents, or undefined when the input ends first: the chunked read then
   * consumes what there is, so the error names the offset where the input ended.
   */
  private async wholeFile(): Promise<Buffer | undefined> {
    try {
      return await this.tokens.reader.readExact(this.left);
    } catch (err) {
      if (err instanceof WireFormatError) return undefined;
      throw err;
    }
  }

  /** Skips whatever the consumer did not read, so the parser can go on. */
  async drain(): Promise<void> {
    this.started = true;
    for await (const chunk of this.read()) void chunk;
  }
}

export async function* parseNar(source: WireReader | ByteChunks, opts: ParseNarOptions = {}): AsyncGenerator<NarEvent> {
  const tokens = new NarTokenReader(source instanceof WireReader ? source : new WireReader(source, 'NAR'));
  const maxDepth = opts.maxDepth ?? Infinity;

  const magicLength = await tokens.readLength('the NAR header');
  if (magicLength !== BigInt(NAR_MAGIC.length)) throw notANar();
  const magic = await tokens.take(NAR_MAGIC.length, 'the NAR header');
  if (magic.toString('latin1') !== NAR_MAGIC) throw notANar();
  await tokens.readPadding(NAR_MAGIC.length, 'the NAR header');

  /** One frame per open directory: the last entry name, to enforce strict byte order. */
  const open: { previous: Buffer | undefined }[] = [];
  /** The fixed words before a node's type: `( type` for the root, `node ( type` in an entry. */
  let header = ROOT_HEADER;

  for (;;) {
    await tokens.expectWords(header);
    const kind = await tokens.readToken('a node type');
    const inEntry = open.length > 0;
    if (kind.token === 'directory') {
      if (open.length >= maxDepth) {
        throw invalidNar(kind.offset, `directories are nested more than ${maxDepth} levels deep`);
      }
      open.push({ previous: undefined });
      yield { type: 'directory', offset: kind.offset };
    } else if (kind.token === 'regular') {
      yield* readRegular(tokens, inEntry);
    } else if (kind.token === 'symlink') {
      yield await readSymlink(tokens, inEntry);
    } else {
      throw invalidNar(kind.offset, `unknown file type ${JSON.stringify(kind.token)}`);
    }

    // A file or symlink has been read through the `)` of its entry; a directory is open.
    for (;;) {
      if (open.length === 0) return;
      const item = await tokens.readToken('"entry" or ")"');
      if (item.token === ')') {
        open.pop();
        if (open.length > 0) await tokens.expectWords(CLOSE);
        yield { type: 'directoryEnd', offset: item.offset };
        continue;
      }
      if (item.token !== 'entry') throw invalidNar(item.offset, `expected "entry" or ")", got ${JSON.stringify(item.token)}`);
      await tokens.expectWords(ENTRY_HEADER);
      const name = await readName(tokens, open[open.length - 1]!);
      header = NODE_HEADER;
      yield { type: 'entry', name, offset: item.offset };
      break;
    }
  }
}

const ROOT_HEADER = ['(', 'type'];
const NODE_HEADER = ['node', '(', 'type'];
const ENTRY_HEADER = ['(', 'name'];
const CLOSE = [')'];
const CLOSE_ENTRY = [')', ')'];
const TARGET = ['target'];

function notANar(): NarFormatError {
  return new NarFormatError("input doesn't look like a Nix archive (bad magic at offset 0)");
}

async function readName(tokens: NarTokenReader, directory: { previous: Buffer | undefined }): Promise<Buffer> {
  const offset = tokens.position;
  const name = await tokens.readSmall(MAX_NAME_LENGTH, 'entry name');
  const reason = invalidNameReason(name);
  if (reason) throw invalidNar(offset, `NAR contains invalid file name ${showName(name)}: it ${reason}`);
  if (directory.previous) {
    const order = compareNames(directory.previous, name);
    if (order === 0) throw invalidNar(offset, `duplicate entry name ${showName(name)}`);
    if (order > 0) {
      throw invalidNar(offset, `NAR directory is not sorted: ${showName(name)} comes after ${showName(directory.previous)}`);
    }
  }
  directory.previous = name;
  return name;
}

/** A regular file after its type, through its `)` and, in an entry, the entry's `)`. */
async function* readRegular(tokens: NarTokenReader, inEntry: boolean): AsyncGenerator<NarRegularEvent> {
  let next = await tokens.readToken('"executable" or "contents"');
  let executable = false;
  if (next.token === 'executable') {
    const offset = tokens.position;
    if ((await tokens.readLength('the "executable" marker')) !== 0n) {
      throw invalidNar(offset, '"executable" must be followed by an empty string');
    }
    executable = true;
    next = await tokens.readToken('"contents"');
  }
  if (next.token !== 'contents') throw invalidNar(next.offset, `expected "contents", got ${JSON.stringify(next.token)}`);
  const sizeOffset = tokens.position;
  const length = await tokens.readLength('the file size');
  if (length > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidNar(sizeOffset, `file size ${length} is too large`);
  const size = Number(length);
  const contents = new FileContents(tokens, size);
  yield { type: 'regular', executable, size, contentsOffset: tokens.position, contents };
  await contents.drain();
  await tokens.expectWords(inEntry ? CLOSE_ENTRY : CLOSE, narPadding(size), 'file contents');
}

async function readSymlink(tokens: NarTokenReader, inEntry: boolean): Promise<NarSymlinkEvent> {
  await tokens.expectWords(TARGET);
  const offset = tokens.position;
  const target = await tokens.readSmall(MAX_TARGET_LENGTH, 'symlink target');
  if (target.length === 0) throw invalidNar(offset, 'symlink target is empty');
  if (target.includes(0)) throw invalidNar(offset, 'symlink target contains a NUL byte');
  await tokens.expectWords(inEntry ? CLOSE_ENTRY : CLOSE);
  return { type: 'symlink', target, offset };
}
