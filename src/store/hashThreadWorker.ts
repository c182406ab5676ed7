/** The hashing thread of ThreadedSha256: hashes slots (bytes, or a range of a file) in order until the end marker. */
import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { CONSUMED, CONSUMED_ALL, END, LENGTHS, PRODUCED, RANGE_READ_BYTES, RANGE_WORDS, SLOT_BYTES, SLOTS } from './hashThread.js';

const shared = workerData as { data: SharedArrayBuffer; control: SharedArrayBuffer; ranges: SharedArrayBuffer };
const bytes = Buffer.from(shared.data);
const control = new Int32Array(shared.control);
const ranges = new Float64Array(shared.ranges);
const hasher = createHash('sha256');
let readBuffer: Buffer | undefined;

function hashRange(fd: number, position: number, length: number): void {
  readBuffer ??= Buffer.allocUnsafe(RANGE_READ_BYTES);
  for (let done = 0; done < length; ) {
    const n = readSync(fd, readBuffer, 0, Math.min(RANGE_READ_BYTES, length - done), position + done);
    if (n === 0) throw new Error(`hashing thread: file descriptor ${fd} ended ${length - done} bytes early`);
    hasher.update(readBuffer.subarray(0, n));
    done += n;
  }
}

function hashSlots(): void {
  for (let consumed = 0; ; consumed++) {
    while (Atomics.load(control, PRODUCED) <= consumed) Atomics.wait(control, PRODUCED, consumed);
    const index = consumed % SLOTS;
    const length = Atomics.load(control, LENGTHS + index);
    if (length === END) return;
    const fd = ranges[index * RANGE_WORDS]!;
    if (fd >= 0) hashRange(fd, ranges[index * RANGE_WORDS + 1]!, length);
    else hasher.update(bytes.subarray(index * SLOT_BYTES, index * SLOT_BYTES + length));
    Atomics.store(control, CONSUMED, consumed + 1);
    Atomics.notify(control, CONSUMED);
  }
}

try {
  hashSlots();
} catch (e) {
  // Release a producer waiting for room or for a drain; the error reaches it through finish().
  Atomics.store(control, CONSUMED, CONSUMED_ALL);
  Atomics.notify(control, CONSUMED);
  throw e;
}
parentPort!.postMessage(hasher.digest());
