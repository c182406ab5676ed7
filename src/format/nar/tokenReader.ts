/**
 * Reads NAR strings off a WireReader with the checks the grammar needs: every length is
 * compared with a small limit before anything is allocated, padding must be zero, and every
 * failure is a one-line NarFormatError naming the byte offset.
 */
import { NarFormatError, WireFormatError } from '../errors.js';
import type { WireReader } from '../wire.js';
import { MAX_TOKEN_LENGTH } from './constants.js';
import { narPadding } from './encode.js';

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

  /** A string of at most `limit` bytes (a name or a target), copied out of the input. */
  async readSmall(limit: number, what: string): Promise<Buffer> {
    const offset = this.position;
    const length = await this.readLength(what);
    if (length > BigInt(limit)) {
      throw invalidNar(offset, `${what} of ${length} bytes exceeds the limit of ${limit} bytes`);
    }
    const bytes = Buffer.from(await this.take(Number(length), what));
    await this.readPadding(bytes.length, what);
    return bytes;
  }

  /** A keyword; `expected` describes what the grammar allows here, for the message. */
  async readToken(expected: string): Promise<{ token: string; offset: number }> {
    const offset = this.position;
    const length = await this.readLength(expected);
    if (length > BigInt(MAX_TOKEN_LENGTH)) {
      throw invalidNar(offset, `expected ${expected}, got a string of ${length} bytes`);
    }
    const bytes = await this.take(Number(length), expected);
    const token = bytes.toString('latin1');
    await this.readPadding(bytes.length, JSON.stringify(token));
    return { token, offset };
  }

  async expect(word: string): Promise<void> {
    const { token, offset } = await this.readToken(JSON.stringify(word));
    if (token !== word) throw invalidNar(offset, `expected ${JSON.stringify(word)}, got ${JSON.stringify(token)}`);
  }
}
