/**
 * sha256 on another thread. Copying a stream to disk and hashing it are each about as
 * costly as the other; done one after the other on one thread (as nix does) they add up,
 * done on two cores they overlap. The bytes go through a ring of shared-memory slots: the
 * producer copies into a slot (a memcpy, far cheaper than hashing it) and the hashing
 * thread consumes slots in order.
 *
 * Starting a thread costs milliseconds, so the first bytes are kept in memory and the
 * thread starts only once the stream has proved large; a small stream is hashed here.
 */
import { createHash, type Hash as NodeHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { Hash } from '../format/hash.js';
import { compiledModule } from '../packagePaths.js';

export const SLOT_BYTES = 1 << 20;
export const SLOTS = 8;
/** Words of the control array: slots produced, slots consumed, then each slot's length. */
export const PRODUCED = 0;
export const CONSUMED = 1;
export const LENGTHS = 2;
/** A length meaning "no more slots": the producer has finished. */
export const END = -1;
/** Below this many bytes the stream is hashed on the calling thread. */
const THREAD_AFTER = 8 << 20;

export class ThreadedSha256 {
  private inline: NodeHash | undefined = createHash('sha256');
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private worker: Worker | undefined;
  private data: Buffer | undefined;
  private control: Int32Array | undefined;
  private produced = 0;
  private filled = 0;
  private digest: Promise<Buffer> | undefined;
  size = 0;

  update(bytes: Uint8Array): void {
    this.size += bytes.length;
    if (this.worker === undefined) {
      // Keep the bytes until we know whether the stream is large; they are views, so copy.
      this.pending.push(Buffer.from(bytes));
      this.pendingBytes += bytes.length;
      if (this.pendingBytes < THREAD_AFTER) return;
      this.start();
      for (const b of this.pending) this.copyIn(b);
      this.pending = [];
      return;
    }
    this.copyIn(bytes);
  }

  private start(): void {
    const data = new SharedArrayBuffer(SLOTS * SLOT_BYTES);
    const control = new SharedArrayBuffer((LENGTHS + SLOTS) * 4);
    this.data = Buffer.from(data);
    this.control = new Int32Array(control);
    this.inline = undefined;
    this.worker = new Worker(compiledModule('store/hashThreadWorker.js'), { workerData: { data, control } });
    this.digest = new Promise((resolve, reject) => {
      this.worker!.once('message', (digest: Uint8Array) => resolve(Buffer.from(digest)));
      this.worker!.once('error', reject);
    });
  }

  /** Copies into the current slot, publishing each slot as it fills. */
  private copyIn(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) {
      const slot = this.acquire();
      const take = Math.min(bytes.length - at, SLOT_BYTES - this.filled);
      slot.set(bytes.subarray(at, at + take), this.filled);
      this.filled += take;
      at += take;
      if (this.filled === SLOT_BYTES) this.publish(SLOT_BYTES);
    }
  }

  /** The slot being filled, once the hashing thread is done with its previous contents. */
  private acquire(): Buffer {
    const control = this.control!;
    for (;;) {
      const consumed = Atomics.load(control, CONSUMED);
      if (this.produced - consumed < SLOTS) break;
      Atomics.wait(control, CONSUMED, consumed);
    }
    const index = this.produced % SLOTS;
    return this.data!.subarray(index * SLOT_BYTES, (index + 1) * SLOT_BYTES);
  }

  private publish(length: number): void {
    const control = this.control!;
    Atomics.store(control, LENGTHS + (this.produced % SLOTS), length);
    this.produced++;
    this.filled = 0;
    Atomics.store(control, PRODUCED, this.produced);
    Atomics.notify(control, PRODUCED);
  }

  /** Stops the hashing thread without a result (the stream failed). */
  async abort(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.pending = [];
    if (worker) {
      this.digest?.catch(() => undefined);
      await worker.terminate();
    }
  }

  async finish(): Promise<Hash> {
    if (this.worker === undefined) {
      const hasher = this.inline!;
      for (const b of this.pending) hasher.update(b);
      this.pending = [];
      return new Hash('sha256', hasher.digest());
    }
    if (this.filled > 0) this.publish(this.filled);
    this.acquire();
    this.publish(END);
    try {
      return new Hash('sha256', await this.digest!);
    } finally {
      await this.worker?.terminate();
      this.worker = undefined;
    }
  }
}
