/**
 * Reads NAR strings off a WireReader with the checks the grammar needs: every length is
 * compared with a small limit before anything is allocated, padding must be zero, and every
 * failure is a one-line NarFormatError naming the byte offset.
 */
import { NarFormatError, WireFormatError } from '../errors.js';
import type { WireReader } from '../wire.js';
import { MAX_TOKEN_LENGTH } from './constants.js';
import { encodeNarTokens, narPadding } from './encode.js';

const frames = new Map<string, Buffer>();

function frameOf(words: readonly string[]): Buffer {
  const key = words.join('\0');
  let frame = frames.get(key);
  if (!frame) frames.set(key, (frame = encodeNarTokens(words)));
  return frame;
}

/** The first token of `bytes` (from `at`) that is not the expected word, as a message. */
function describeMismatch(bytes: Buffer, at: number, words: readonly string[], start: number): NarFormatError {
  let offset = at;
  for (const word of words) {
    const length = bytes.readBigUInt64LE(offset);
    const end = offset + 8 + Number(length);
    if (length > BigInt(MAX_TOKEN_LENGTH) || end > bytes.length) {
      return invalidNar(start + offset, `expected ${JSON.stringify(word)}, got a string of ${length} bytes`);
    }
    const got = bytes.toString('latin1', offset + 8, end);
    if (got !== word) return invalidNar(start + offset, `expected ${JSON.stringify(word)}, got ${JSON.stringify(got)}`);
    const padEnd = end + narPadding(got.length);
    for (let pad = end; pad < padEnd; pad++) {
      if (bytes[pad] !== 0) return invalidNar(start + end, `non-zero padding after ${JSON.stringify(word)}`);
    }
    offset = padEnd;
  }
  return invalidNar(start, 'unexpected bytes');
}

export function invalidNar(offset: number, problem: string): NarFormatError {
  return new NarFormatError(`invalid NAR at offset ${offset}: ${problem}`);
}

export class NarTokenReader {
  constructor(readonly reader: WireReader) {}

  get position(): number {
    return this.reader.position;
  }

  truncated(what: string): NarFormatError {
    return new NarFormatError(`NAR is truncated at offset ${this.reader.position}: the input ended while reading ${what}`);
  }

  /** The only WireFormatError readExact/readChunks raise is the end of the input. */
  async take(length: number, what: string): Promise<Buffer> {
    try {
      return await this.reader.readExact(length);
    } catch (err) {
      if (err instanceof WireFormatError) throw this.truncated(what);
      throw err;
    }
  }

  /** A string's u64 length as a bigint, so that 2^62 is compared, not rounded. */
  async readLength(what: string): Promise<bigint> {
    return (await this.take(8, what)).readBigUInt64LE();
  }

  async readPadding(length: number, what: string): Promise<void> {
    const pad = narPadding(length);
    if (pad === 0) return;
    const offset = this.position;
    const bytes = await this.take(pad, `the padding of ${what}`);
    if (bytes.some((byte) => byte !== 0)) throw invalidNar(offset, `non-zero padding after ${what}`);
  }

  /** Payload and padding in one read (a view into the input); the padding must be zero. */
  private async payload(length: number, what: string): Promise<Buffer> {
    const pad = narPadding(length);
    const start = this.position;
    const bytes = await this.take(length + pad, what);
    for (let at = length; at < bytes.length; at++) {
      if (bytes[at] !== 0) throw invalidNar(start + length, `non-zero padding after ${what}`);
    }
    return bytes.subarray(0, length);
  }

  /** A string of at most `limit` bytes (a name or a target), copied out of the input. */
  async readSmall(limit: number, what: string): Promise<Buffer> {
    const offset = this.position;
    const length = await this.readLength(what);
    if (length > BigInt(limit)) {
      throw invalidNar(offset, `${what} of ${length} bytes exceeds the limit of ${limit} bytes`);
    }
    return Buffer.from(await this.payload(Number(length), what));
  }

  /** A keyword; `expected` describes what the grammar allows here, for the message. */
  async readToken(expected: string): Promise<{ token: string; offset: number }> {
    const offset = this.position;
    const length = await this.readLength(expected);
    if (length > BigInt(MAX_TOKEN_LENGTH)) {
      throw invalidNar(offset, `expected ${expected}, got a string of ${length} bytes`);
    }
    const bytes = await this.payload(Number(length), expected);
    return { token: bytes.toString('latin1'), offset };
  }

  /**
   * Fixed keywords in one read (most of a NAR is such runs, and one read is far cheaper than
   * one per token), after `padBefore` bytes of padding that must be zero. A mismatch is
   * described token by token; if the input ends, the words are read one at a time instead,
   * so that the message says exactly where.
   */
  async expectWords(words: readonly string[], padBefore = 0, padWhat = ''): Promise<void> {
    const frame = frameOf(words);
    const start = this.position;
    let bytes: Buffer;
    try {
      bytes = await this.reader.readExact(padBefore + frame.length);
    } catch (err) {
      if (!(err instanceof WireFormatError)) throw err;
      if (padBefore > 0) {
        const pad = await this.take(padBefore, `the padding of ${padWhat}`);
        if (pad.some((byte) => byte !== 0)) throw invalidNar(start, `non-zero padding after ${padWhat}`);
      }
      for (const word of words) await this.expect(word);
      throw this.truncated(JSON.stringify(words[words.length - 1]));
    }
    for (let at = 0; at < padBefore; at++) {
      if (bytes[at] !== 0) throw invalidNar(start, `non-zero padding after ${padWhat}`);
    }
    if (bytes.compare(frame, 0, frame.length, padBefore) !== 0) throw describeMismatch(bytes, padBefore, words, start);
  }

  async expect(word: string): Promise<void> {
    const { token, offset } = await this.readToken(JSON.stringify(word));
    if (token !== word) throw invalidNar(offset, `expected ${JSON.stringify(word)}, got ${JSON.stringify(token)}`);
  }
}
