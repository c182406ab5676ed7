/**
 * The framing shared by NAR, the export format and both wire protocols: u64
 * little-endian integers and byte strings padded with zeros to a multiple of 8.
 */
import { WireFormatError } from './errors.js';

const ZEROS = Buffer.alloc(8);

export function padding(length: number): number {
  return (8 - (length % 8)) % 8;
}

export function encodeU64(value: number | bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(BigInt(value));
  return out;
}

/** A padded string as one buffer: u64 length, bytes, zero padding. */
export function encodeString(value: string | Uint8Array): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  return Buffer.concat([encodeU64(bytes.length), bytes, ZEROS.subarray(0, padding(bytes.length))]);
}

export function encodeStrings(values: readonly (string | Uint8Array)[]): Buffer {
  return Buffer.concat([encodeU64(values.length), ...values.map(encodeString)]);
}

/** Collects framed values into one buffer; for messages, not for large contents. */
export class WireWriter {
  private readonly parts: Buffer[] = [];
  u64(value: number | bigint): this {
    this.parts.push(encodeU64(value));
    return this;
  }
  string(value: string | Uint8Array): this {
    this.parts.push(encodeString(value));
    return this;
  }
  strings(values: readonly (string | Uint8Array)[]): this {
    this.parts.push(encodeStrings(values));
    return this;
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Where a WireReader gets bytes: any async iterable of chunks (a Readable, a socket, a generator). */
export type ByteChunks = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * Pull-style reader over a chunked byte stream. Every length read from the stream is
 * checked against a caller-given limit before anything is allocated. Buffers returned by
 * readExact and readChunks are views, valid until the next read: copy what you keep.
 */
export class WireReader {
  private readonly iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;
  private buffer: Buffer = Buffer.alloc(0);
  private offset = 0;
  private ended = false;
  /** Bytes consumed so far (for error messages). */
  position = 0;
  /**
   * Called with every byte range as it is consumed, in order, so that a caller can hash the
   * exact bytes of a NAR while it is parsed. The buffer is a view: copy it if kept.
   */
  onConsume?: (bytes: Buffer) => void;

  constructor(
    source: ByteChunks,
    /** What the stream is, for error messages ("NAR", "export file"). */
    readonly what = 'stream',
  ) {
    const asyncIt = (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator];
    this.iterator = asyncIt ? asyncIt.call(source) : (source as Iterable<Uint8Array>)[Symbol.iterator]();
  }

  private get available(): number {
    return this.buffer.length - this.offset;
  }

  /** Loads at least one more chunk; false at end of stream. */
  private async fill(): Promise<boolean> {
    if (this.ended) return false;
    // A source may refill one buffer for every chunk (the NAR dumper does, to avoid allocating
    // a megabyte per chunk), so unread bytes are copied out before asking for the next chunk.
    const leftover = this.available > 0 ? Buffer.from(this.buffer.subarray(this.offset)) : undefined;
    this.buffer = leftover ?? Buffer.alloc(0);
    this.offset = 0;
    for (;;) {
      const next = await this.iterator.next();
      if (next.done) {
        this.ended = true;
        return false;
      }
      if (next.value.length === 0) continue;
      const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.length);
      this.buffer = leftover ? Buffer.concat([leftover, chunk]) : chunk;
      return true;
    }
  }

  private truncated(wanted: number): WireFormatError {
    return new WireFormatError(`${this.what} is truncated: expected ${wanted} more bytes at offset ${this.position}`);
  }

  async readExact(n: number): Promise<Buffer> {
    while (this.available < n) {
      if (!(await this.fill())) throw this.truncated(n - this.available);
    }
    const out = this.buffer.subarray(this.offset, this.offset + n);
    this.offset += n;
    this.position += n;
    this.onConsume?.(out);
    return out;
  }

  /** True when the stream has no more bytes. */
  async atEnd(): Promise<boolean> {
    return this.available === 0 && !(await this.fill());
  }

  /** Reads a u64 as a JS number; values above 2^53 are refused as corrupt. */
  async readU64(): Promise<number> {
    const bytes = await this.readExact(8);
    const value = bytes.readBigUInt64LE();
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new WireFormatError(`${this.what}: integer ${value} at offset ${this.position - 8} is too large`);
    }
    return Number(value);
  }

  async readPadding(length: number): Promise<void> {
    const pad = padding(length);
    if (pad === 0) return;
    const bytes = await this.readExact(pad);
    for (const b of bytes) {
      if (b !== 0) throw new WireFormatError(`${this.what}: non-zero padding at offset ${this.position - pad}`);
    }
  }

  /** A padded byte string of at most `maxLength` bytes (checked before allocating). */
  async readBytes(maxLength: number): Promise<Buffer> {
    const length = await this.readU64();
    if (length > maxLength) {
      throw new WireFormatError(`${this.what}: string of ${length} bytes at offset ${this.position - 8} exceeds the limit of ${maxLength}`);
    }
    const bytes = Buffer.from(await this.readExact(length));
    await this.readPadding(length);
    return bytes;
  }

  async readString(maxLength = 1 << 20): Promise<string> {
    return (await this.readBytes(maxLength)).toString('utf8');
  }

  async readStrings(maxCount = 1 << 20, maxLength = 1 << 20): Promise<string[]> {
    const count = await this.readU64();
    if (count > maxCount) throw new WireFormatError(`${this.what}: list of ${count} items exceeds the limit of ${maxCount}`);
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(await this.readString(maxLength));
    return out;
  }

  /**
   * Yields exactly `length` bytes as they arrive, without buffering them all (file contents
   * in a NAR can be gigabytes). The chunks are views: copy them if kept.
   */
  async *readChunks(length: number): AsyncGenerator<Buffer> {
    let left = length;
    while (left > 0) {
      if (this.available === 0 && !(await this.fill())) throw this.truncated(left);
      const take = Math.min(left, this.available);
      const out = this.buffer.subarray(this.offset, this.offset + take);
      this.offset += take;
      this.position += take;
      left -= take;
      this.onConsume?.(out);
      yield out;
    }
  }
}
