/**
 * The shared memory between dumpPath and its helper worker: a ring of chunk slots that the
 * worker fills with the NAR fragments of the subtrees it was given, in job order, and that
 * the dumper drains in the same order; plus one claim word per job, so that whichever side
 * gets to a job first does it (the dumper takes a job back that the worker has not begun).
 */
/**
 * 64 MiB: the helper can only be as far ahead as the ring is long. With 16 slots it stalled
 * on subtrees of ~40 MiB (the dumper, busy between them, waited 160 ms for it in a 575 ms
 * dump of 100,000 small files; 64 slots: 440 ms). Allocated only for trees that prove large.
 */
export const RING_SLOTS = 64;
export const SLOT_BYTES = 1 << 20;
/** Claim words are indexed by job number modulo this; far more than can be outstanding. */
export const JOB_WINDOW = 1 << 16;
export const MAX_OUTSTANDING_JOBS = 4096;

export const enum Claim {
  Open = 0,
  Worker = 1,
  Dumper = 2,
}

export const enum SlotFlag {
  /** The last slot of a job's fragment. */
  End = 1,
  /** The slot holds `{ name, message }` as JSON instead of NAR bytes. */
  Error = 2,
}

/** Words of `control`. */
export const PRODUCED = 0;
export const CONSUMED = 1;
export const WORKER_READY = 2;
const LENGTHS = 3;
const FLAGS = LENGTHS + RING_SLOTS;
const JOBS = FLAGS + RING_SLOTS;
const CONTROL_WORDS = JOBS + RING_SLOTS;

export interface RingMemory {
  data: SharedArrayBuffer;
  control: SharedArrayBuffer;
  claims: SharedArrayBuffer;
}

export function allocateRing(): RingMemory {
  return {
    data: new SharedArrayBuffer(RING_SLOTS * SLOT_BYTES),
    control: new SharedArrayBuffer(CONTROL_WORDS * 4),
    claims: new SharedArrayBuffer(JOB_WINDOW * 4),
  };
}

export class Ring {
  readonly control: Int32Array;
  readonly claims: Int32Array;

  constructor(readonly memory: RingMemory) {
    this.control = new Int32Array(memory.control);
    this.claims = new Int32Array(memory.claims);
  }

  /** Atomically takes job `job` for one side; false when the other side already has it. */
  claim(job: number, by: Claim): boolean {
    return Atomics.compareExchange(this.claims, job % JOB_WINDOW, Claim.Open, by) === Claim.Open;
  }

  /**
   * Reopens a job's claim word for job `job + JOB_WINDOW`, by whichever side touches it last:
   * the worker when the dumper had taken the job back, the dumper after the worker's fragment.
   */
  reopen(job: number): void {
    Atomics.store(this.claims, job % JOB_WINDOW, Claim.Open);
  }

  slotBuffer(sequence: number): Buffer {
    return Buffer.from(this.memory.data, (sequence % RING_SLOTS) * SLOT_BYTES, SLOT_BYTES);
  }

  /** Producer: blocks until slot `sequence` is no longer in use by the consumer. */
  acquire(sequence: number): Buffer {
    for (;;) {
      const consumed = Atomics.load(this.control, CONSUMED);
      if (sequence - consumed < RING_SLOTS) return this.slotBuffer(sequence);
      Atomics.wait(this.control, CONSUMED, consumed);
    }
  }

  publish(sequence: number, length: number, flags: number, job: number): void {
    const slot = sequence % RING_SLOTS;
    this.control[LENGTHS + slot] = length;
    this.control[FLAGS + slot] = flags;
    this.control[JOBS + slot] = job;
    Atomics.store(this.control, PRODUCED, sequence + 1);
    Atomics.notify(this.control, PRODUCED);
  }

  /** Consumer: waits for slot `sequence`; returns its bytes, flags and job. */
  receive(sequence: number): { bytes: Buffer; flags: number; job: number } {
    for (;;) {
      const produced = Atomics.load(this.control, PRODUCED);
      if (produced > sequence) break;
      Atomics.wait(this.control, PRODUCED, produced);
    }
    const slot = sequence % RING_SLOTS;
    const bytes = this.slotBuffer(sequence).subarray(0, this.control[LENGTHS + slot]!);
    return { bytes, flags: this.control[FLAGS + slot]!, job: this.control[JOBS + slot]! };
  }

  release(sequence: number): void {
    Atomics.store(this.control, CONSUMED, sequence + 1);
    Atomics.notify(this.control, CONSUMED);
  }
}
