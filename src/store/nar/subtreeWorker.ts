/**
 * dumpPath's helper thread: dumps the subtrees it is given into the shared ring, one NAR
 * fragment per job, in the order the jobs were sent (which is the order of the NAR).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ChunkWriter } from './chunkWriter.js';
import { dumpTree } from './dumpPath.js';
import { DumpPlanner } from './dumpPlanner.js';
import { Mirror } from './mirror.js';
import { Claim, Ring, SLOT_BYTES, SlotFlag, WORKER_READY, type RingMemory } from './subtreeRing.js';

export interface SubtreeJob {
  job: number;
  path: string | Uint8Array;
  useCaseHack: boolean;
  /** Where to copy the subtree as well (see Mirror). */
  copyTo: string | Uint8Array | undefined;
}

const ring = new Ring((workerData as { memory: RingMemory }).memory);
let sequence = 0;

function run({ job, path, useCaseHack, copyTo }: SubtreeJob): void {
  if (!ring.claim(job, Claim.Worker)) {
    ring.reopen(job);
    return;
  }
  let writing = sequence;
  const out = new ChunkWriter(SLOT_BYTES, false, () => ring.acquire(writing++));
  let planner: DumpPlanner | undefined;
  let mirror: Mirror | undefined;
  try {
    const root = typeof path === 'string' ? path : Buffer.from(path);
    planner = new DumpPlanner(root, useCaseHack);
    mirror = copyTo === undefined ? undefined : new Mirror(root, typeof copyTo === 'string' ? copyTo : Buffer.from(copyTo));
    for (const chunk of dumpTree(out, planner, undefined, { mirror, sendFileTo: undefined })) {
      ring.publish(sequence++, chunk.length, 0, job);
    }
    ring.publish(sequence++, out.position, SlotFlag.End, job);
  } catch (err) {
    const error = err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) };
    const bytes = Buffer.from(JSON.stringify(error));
    const slot = ring.slotBuffer(sequence);
    bytes.copy(slot, 0, 0, Math.min(bytes.length, slot.length));
    ring.publish(sequence++, Math.min(bytes.length, slot.length), SlotFlag.End | SlotFlag.Error, job);
  } finally {
    planner?.close();
    mirror?.close();
  }
}

parentPort!.on('message', (job: SubtreeJob) => run(job));
Atomics.store(ring.control, WORKER_READY, 1);
