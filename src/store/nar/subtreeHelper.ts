/**
 * The dumper's side of its helper thread. When a large tree is dumped, some subdirectories
 * are handed to the worker ("delegated") as soon as their parent is listed; the worker
 * dumps them into the ring while this thread dumps the subdirectories in between. When the
 * dumper reaches a delegated subdirectory it either takes the job back (the worker has not
 * started it) or copies the worker's fragment. The bytes are the same either way.
 */
import { Worker } from 'node:worker_threads';
import { NarDumpError } from './errors.js';
import type { Mirror } from './mirror.js';
import { allocateRing, Claim, MAX_OUTSTANDING_JOBS, Ring, SlotFlag, WORKER_READY } from './subtreeRing.js';
import type { SubtreeJob } from './subtreeWorker.js';
import { compiledModule } from '../../packagePaths.js';

export class SubtreeHelper {
  /** Fragments the helper threads have delivered, process-wide (lets tests see they ran). */
  static fragmentsDelivered = 0;

  private readonly ring = new Ring(allocateRing());
  private readonly worker: Worker;
  private nextJob = 0;
  private sequence = 0;
  private outstanding = 0;

  constructor(
    private readonly useCaseHack: boolean,
    /** The dump's copy, if it makes one: the worker copies the subdirectories it takes. */
    private readonly mirror: Mirror | undefined,
  ) {
    this.worker = new Worker(compiledModule('store/nar/subtreeWorker.js'), { workerData: { memory: this.ring.memory } });
    // Never keep the process alive for it, even if a consumer abandons the dump.
    this.worker.unref();
  }

  /** Whether handing out more work now is useful: the worker runs and has nothing queued. */
  get wantsWork(): boolean {
    return this.outstanding === 0 && Atomics.load(this.ring.control, WORKER_READY) === 1;
  }

  get canTake(): boolean {
    return this.outstanding < MAX_OUTSTANDING_JOBS;
  }

  delegate(path: string | Buffer): number {
    const job = this.nextJob++;
    this.outstanding++;
    const message: SubtreeJob = { job, path, useCaseHack: this.useCaseHack, copyTo: this.mirror?.targetOf(path) };
    this.worker.postMessage(message);
    return job;
  }

  /** At the job's place in the NAR: true when the dumper got it back and must dump it itself. */
  takeBack(job: number): boolean {
    this.outstanding--;
    return this.ring.claim(job, Claim.Dumper);
  }

  /** The worker's NAR fragment for `job`, slot by slot; each view is valid until the next. */
  *fragment(job: number): Generator<Buffer> {
    for (;;) {
      const slot = this.ring.receive(this.sequence);
      if (slot.job !== job) throw new Error(`dumpPath: helper sent job ${slot.job} where ${job} was expected`);
      if (slot.flags & SlotFlag.Error) {
        const { message } = JSON.parse(slot.bytes.toString('utf8')) as { message: string };
        this.ring.release(this.sequence++);
        this.ring.reopen(job);
        throw new NarDumpError(message);
      }
      yield slot.bytes;
      this.ring.release(this.sequence++);
      if (slot.flags & SlotFlag.End) {
        SubtreeHelper.fragmentsDelivered++;
        this.ring.reopen(job);
        return;
      }
    }
  }

  stop(): void {
    const stopping = this.worker.terminate().then(
      () => undefined,
      () => undefined,
    );
    SubtreeHelper.stopping.add(stopping);
    void stopping.finally(() => SubtreeHelper.stopping.delete(stopping));
  }

  private static readonly stopping = new Set<Promise<void>>();

  /**
   * Resolves once every helper stopped so far has ended: a copying helper may still be
   * writing into the copy, which the caller is about to remove after a failure.
   */
  static async allStopped(): Promise<void> {
    await Promise.all([...SubtreeHelper.stopping]);
  }
}
