/**
 * A raw worker-protocol client for tests that must send what a real Nix client never would
 * (garbage, huge lengths, half a request), and a way to run tsnix-daemon on a test store.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { encodeString, encodeU64 } from '../../src/format/wire.js';
import { repoRoot } from './fixtures.js';

export const TSNIX_DAEMON = join(repoRoot, 'bin', 'tsnix-daemon');

export interface RunningDaemon {
  socket: string;
  process: ChildProcess;
  log: () => string;
  /** Resolves with the log once it matches `pattern` (the daemon logs as it goes); rejects after 5 s. */
  waitForLog: (pattern: RegExp) => Promise<string>;
  stop: () => Promise<void>;
}

/** Starts tsnix-daemon on the chroot store `root`; resolves once it listens. */
export async function startDaemon(root: string, extraArgs: string[] = []): Promise<RunningDaemon> {
  const socket = join(root, 'nix/var/nix/daemon-socket/socket');
  const child = spawn(TSNIX_DAEMON, ['--store', root, ...extraArgs], { env: { ...process.env, TSNIX_CONF_DIR: '/nonexistent' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const listening = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      log += c.toString();
      if (log.includes('listening on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`tsnix-daemon exited (${code}) before listening: ${log}`)));
  });
  await listening;
  if (!existsSync(socket)) throw new Error(`no socket at ${socket}`);
  return {
    socket,
    process: child,
    log: () => log,
    waitForLog: async (pattern) => {
      for (let waited = 0; !pattern.test(log); waited += 20) {
        if (waited > 5000) throw new Error(`the daemon's log does not match ${pattern}:\n${log}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return log;
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A connection that collects everything the daemon sends. */
export class RawClient {
  received = Buffer.alloc(0);
  closed = false;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.received = Buffer.concat([this.received, c]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ path });
      socket.once('error', reject);
      socket.once('connect', () => resolve(new RawClient(socket)));
    });
  }

  send(...parts: Buffer[]): void {
    this.socket.write(Buffer.concat(parts));
  }

  /** Waits until at least `n` bytes arrived, or the daemon hung up. */
  async waitFor(n: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < n && !this.closed) {
      if (Date.now() > deadline) throw new Error(`waited for ${n} bytes, got ${this.received.length}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('the daemon did not hang up');
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  /** The handshake of a 1.34 client up to the server's STDERR_LAST (40 bytes back). */
  async handshake(): Promise<void> {
    this.send(encodeU64(0x6e697863), encodeU64(0x122), encodeU64(0), encodeU64(0));
    await this.waitFor(16 + 16 + 8);
    this.received = this.received.subarray(40);
  }

  close(): void {
    this.socket.destroy();
  }
}

export { encodeString, encodeU64 };
