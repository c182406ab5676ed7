/** A counting semaphore for job slots (`max-jobs`): waiters are served in arrival order. */
interface Waiter {
  grant: () => void;
  fail: (reason: Error) => void;
  signal: AbortSignal | undefined;
}

export class Semaphore {
  private waiters: Waiter[] = [];
  /**
   * Signals listened to: one listener each, however many goals wait with it (a closure of a
   * thousand paths queues a thousand substitutions on one signal).
   */
  private readonly watched = new WeakSet<AbortSignal>();

  constructor(private available: number) {}

  /** Resolves to a release function once a slot is free; rejects if `signal` aborts first. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.available > 0) {
      this.available--;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      this.waiters.push({ grant: resolve, fail: reject, signal });
      if (signal && !this.watched.has(signal)) {
        this.watched.add(signal);
        signal.addEventListener('abort', () => this.abandon(signal), { once: true });
      }
    });
    return this.releaser();
  }

  /** Every waiter of `signal` gives up with its reason. */
  private abandon(signal: AbortSignal): void {
    const leaving = this.waiters.filter((w) => w.signal === signal);
    this.waiters = this.waiters.filter((w) => w.signal !== signal);
    for (const waiter of leaving) waiter.fail(signal.reason as Error);
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // The slot passes straight to the next waiter, so a newcomer cannot overtake it.
      if (next) next.grant();
      else this.available++;
    };
  }
}
