/**
 * The client side of the GC's roots socket (`STATE/gc-socket/socket`): while a collection
 * runs, a process tells the collector about a new temp root by writing `path\n` and waiting
 * for the byte `1`. One connection carries many paths.
 */
import { createConnection, type Socket } from 'node:net';

export class GcSocketClient {
  private received: Buffer[] = [];
  private closed = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received.push(chunk);
      this.notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    socket.on('error', (e) => {
      this.failure = e;
      this.notify();
    });
    // An idle connection to the collector must not keep this process alive.
    socket.unref();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Connects; rejects with the system error (ECONNREFUSED when the GC just finished). */
  static connect(path: string): Promise<GcSocketClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ path });
      const onError = (e: Error): void => reject(e);
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        resolve(new GcSocketClient(socket));
      });
    });
  }

  /**
   * Sends one root and waits for the acknowledgement. Resolves false when the collector went
   * away (it finished): the caller starts over from the GC lock.
   */
  async send(storePath: string): Promise<boolean> {
    if (this.closed || this.failure) return false;
    this.socket.ref();
    try {
      this.socket.write(`${storePath}\n`);
      for (;;) {
        const data = Buffer.concat(this.received);
        if (data.length > 0) {
          this.received = data.length > 1 ? [data.subarray(1)] : [];
          if (data[0] !== 0x31) throw new Error(`unexpected answer ${data[0]} from the garbage collector's roots socket`);
          return true;
        }
        if (this.failure) {
          const code = (this.failure as NodeJS.ErrnoException).code;
          if (code === 'EPIPE' || code === 'ECONNRESET') return false;
          throw this.failure;
        }
        if (this.closed) return false;
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      this.socket.unref();
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
