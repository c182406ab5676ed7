/**
 * Framed streams (protocols.md §0): `u64 len` + `len` raw bytes, ended by a frame of length
 * 0. What a client sends after AddToStore, AddToStoreNar, AddMultipleToStore and
 * AddBuildLog arguments, without waiting for an answer.
 */
import { WireFormatError } from '../format/errors.js';
import type { WireReader } from '../format/wire.js';

/** Frames larger than this are refused (Nix's client sends 32 KiB). */
const MAX_FRAME = 64 << 20;

const READ_SIZE = 1 << 20;

export class FramedSource {
  private done = false;
  /** A frame header that could not be followed: the stream cannot be read to its end. */
  private broken: Error | undefined;
  /** Bytes of the current frame not yet read: a consumer may stop anywhere, and drain resumes there. */
  private remaining = 0;

  constructor(private readonly reader: WireReader) {}

  /** The payload, chunk by chunk (views: copy what you keep). */
  async *chunks(): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.remaining === 0) {
        if (this.done) return;
        const length = await this.reader.readU64();
        if (length === 0) {
          this.done = true;
          return;
        }
        if (length > MAX_FRAME) {
          this.broken = new WireFormatError(`framed stream: a frame of ${length} bytes exceeds the limit of ${MAX_FRAME}`);
          throw this.broken;
        }
        this.remaining = length;
      }
      const chunk = await this.reader.readExact(Math.min(this.remaining, READ_SIZE));
      this.remaining -= chunk.length;
      yield chunk;
    }
  }

  /**
   * Reads to the end of the stream, whatever its consumer left: the client sends it all
   * before it reads the answer, so an error is told only after the last frame.
   */
  async drain(): Promise<void> {
    if (this.broken) throw this.broken;
    for await (const chunk of this.chunks()) void chunk;
  }
}
