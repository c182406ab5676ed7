/**
 * Output buffer of the dumper. Tokens, names and small files are copied into one large
 * chunk that is handed out when nearly full, so a consumer sees a few large buffers instead
 * of one per token.
 *
 * By default every chunk is a fresh allocation, so a consumer may keep it (a socket write
 * holds it until flushed). With `reuse`, one buffer is refilled after each hand-out: the
 * chunk is then valid only until the consumer asks for the next one, but no fresh pages
 * are faulted in for every MiB, which is most of the cost of dumping a large file.
 *
 * The first chunk is small: most paths a build registers are a few bytes, and a MiB of
 * external memory for each of them made V8 run a full collection every few builds.
 */
const FIRST_CHUNK = 64 * 1024;

export class ChunkWriter {
  buffer: Buffer;
  position = 0;

  private readonly allocate: () => Buffer;

  constructor(
    readonly chunkSize: number,
    private readonly reuse: boolean,
    /** Where chunks come from instead (the helper worker writes into shared slots). */
    allocate?: () => Buffer,
  ) {
    this.allocate = allocate ?? (() => Buffer.allocUnsafe(chunkSize));
    this.buffer = allocate ? allocate() : Buffer.allocUnsafe(Math.min(chunkSize, FIRST_CHUNK));
  }

  get free(): number {
    return this.buffer.length - this.position;
  }

  /** Callers first make sure `free` is enough (see HEADER_ROOM in dumpPath). */
  bytes(bytes: Buffer): void {
    bytes.copy(this.buffer, this.position);
    this.position += bytes.length;
  }

  /** A length field: u64 little-endian. */
  u64(value: number): void {
    this.buffer.writeUInt32LE(value >>> 0, this.position);
    this.buffer.writeUInt32LE(Math.floor(value / 0x100000000), this.position + 4);
    this.position += 8;
  }

  /** At most 7 bytes of padding: a loop beats a native fill call at this size. */
  zeros(count: number): void {
    for (let i = 0; i < count; i++) this.buffer[this.position++] = 0;
  }

  /** A NAR string whose payload is a latin1 string (one char per byte, as readdir gave it). */
  latin1String(value: string): void {
    this.u64(value.length);
    this.position += this.buffer.write(value, this.position, 'latin1');
    this.zeros((8 - (value.length % 8)) % 8);
  }

  bufferString(value: Buffer): void {
    this.u64(value.length);
    this.bytes(value);
    this.zeros((8 - (value.length % 8)) % 8);
  }

  /** The filled part, to be yielded; writing continues in a new (or the recycled) buffer. */
  take(): Buffer {
    const full = this.buffer.subarray(0, this.position);
    // A small first chunk that filled up: the NAR is large, so full-size chunks from now on.
    if (!this.reuse || this.buffer.length < this.chunkSize) this.buffer = this.allocate();
    this.position = 0;
    return full;
  }
}
