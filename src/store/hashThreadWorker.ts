/** The hashing thread of ThreadedSha256: hashes slots in order until the end marker. */
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { CONSUMED, END, LENGTHS, PRODUCED, SLOT_BYTES, SLOTS } from './hashThread.js';

const { data, control: controlBuffer } = workerData as { data: SharedArrayBuffer; control: SharedArrayBuffer };
const bytes = Buffer.from(data);
const control = new Int32Array(controlBuffer);
const hasher = createHash('sha256');

for (let consumed = 0; ; consumed++) {
  while (Atomics.load(control, PRODUCED) <= consumed) Atomics.wait(control, PRODUCED, consumed);
  const index = consumed % SLOTS;
  const length = Atomics.load(control, LENGTHS + index);
  if (length === END) break;
  hasher.update(bytes.subarray(index * SLOT_BYTES, index * SLOT_BYTES + length));
  Atomics.store(control, CONSUMED, consumed + 1);
  Atomics.notify(control, CONSUMED);
}
parentPort!.postMessage(hasher.digest());
