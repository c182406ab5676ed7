/**
 * sha256 and size of the NAR bytes a parser consumes. The parser consumes a NAR in many
 * 8- to 16-byte tokens; hashing each one separately costs more than copying it, so small
 * ranges are gathered into one staging buffer and hashed in bulk.
 */
import { HashSink, type Hash } from '../../format/hash.js';
import { ThreadedSha256 } from '../hashThread.js';

/** Where the gathered bytes go: hashed here, or on another thread (see ThreadedSha256). */
interface Sha256Sink {
  update(bytes: Uint8Array): void;
  finish(): Hash | Promise<Hash>;
  abort?(): Promise<void>;
  readonly size: number;
}

const STAGING = 64 * 1024;
const SMALL = 4096;

export class NarHasher {
  private readonly sink: Sha256Sink;

  constructor(onThread = false) {
    this.sink = onThread ? new ThreadedSha256() : new HashSink('sha256');
  }

  private readonly staging = Buffer.allocUnsafe(STAGING);
  private staged = 0;

  /** For WireReader.onConsume: the bytes are a view and are not kept. */
  readonly consume = (bytes: Buffer): void => {
    if (bytes.length < SMALL) {
      if (this.staged + bytes.length > STAGING) this.flush();
      bytes.copy(this.staging, this.staged);
      this.staged += bytes.length;
      return;
    }
    this.flush();
    this.sink.update(bytes);
  };

  async finish(): Promise<{ narHash: Hash; narSize: number }> {
    this.flush();
    return { narHash: await this.sink.finish(), narSize: this.sink.size };
  }

  /** Gives up: stops a hashing thread, if one was started. */
  async abort(): Promise<void> {
    await this.sink.abort?.();
  }

  private flush(): void {
    if (this.staged === 0) return;
    this.sink.update(this.staging.subarray(0, this.staged));
    this.staged = 0;
  }
}
