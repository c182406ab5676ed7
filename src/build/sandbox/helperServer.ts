/**
 * One `tsnix-helper --serve` per helper binary, started on first use: it forks each build's
 * helper, which is much cheaper than forking this Node process (whose page tables alone cost
 * milliseconds to copy at every spawn). Frames: see helper-c/serve.c.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { constants } from 'node:os';
import { SandboxSetupError } from './errors.js';

const HEADER = 9;
/** The largest description the helper reads (SPEC_MAX_BYTES in helper-c/spec.h). */
const MAX_DESCRIPTION = 256 * 1024 * 1024;

/** A helper started by the server: its three output streams and how it ended. */
export class ServedHelper extends EventEmitter {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly status = new PassThrough();
  private readonly ended = new Set<string>();
  private reported = false;
  private closed = false;

  constructor(
    private readonly server: HelperServer,
    readonly id: number,
  ) {
    super();
  }

  kill(signal: NodeJS.Signals): void {
    this.server.signal(this.id, constants.signals[signal]);
  }

  /** What the helper wrote on one of its streams; empty: that stream ended. */
  received(kind: string, body: Buffer): void {
    const stream = kind === 'O' ? this.stdout : kind === 'E' ? this.stderr : this.status;
    if (body.length > 0) {
      this.reported ||= kind === 'S';
      stream.write(Buffer.from(body));
      return;
    }
    this.ended.add(kind);
    // A helper that reported the builder's end and closed every stream has nothing more to
    // say; its own exit (the teardown of its mount namespace) need not be waited for.
    if (this.reported && this.ended.size === 3) this.finish(undefined, true);
  }

  /**
   * Ends the streams, then emits 'close' with (exit code | null, signal number | null), like a
   * ChildProcess; `early`: before the exit, whose status is then unknown (null, null).
   */
  finish(wstatus: number | undefined, early = false): void {
    if (this.closed) return;
    this.closed = true;
    this.stdout.end();
    this.stderr.end();
    this.status.end();
    if (early) {
      this.emit('close', null, null);
      return;
    }
    const code = wstatus === undefined ? null : (wstatus & 0x7f) === 0 ? (wstatus >> 8) & 0xff : null;
    const signal = wstatus === undefined || (wstatus & 0x7f) === 0 ? null : wstatus & 0x7f;
    this.emit('close', code, signal);
  }
}

export class HelperServer {
  private static readonly servers = new Map<string, HelperServer>();
  private readonly child: ChildProcess;
  private readonly running = new Map<number, ServedHelper>();
  private nextId = 1;
  private pending: Buffer = Buffer.alloc(0);
  private dead = false;
  private messages = '';

  private constructor(readonly helper: string) {
    this.child = spawn(helper, ['--serve'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (chunk: Buffer) => this.receive(chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => (this.messages += text));
    this.child.stdin!.on('error', () => {});
    this.child.on('error', (error) => this.fail(`cannot start the sandbox helper '${helper}': ${error.message}`));
    this.child.on('close', (code) => this.fail(`the sandbox helper server '${helper}' exited (${String(code)})${this.messages ? `: ${this.messages.trim()}` : ''}`));
    this.idle();
  }

  /** The server for `helper`, started if it is not running. */
  static for(helper: string): HelperServer {
    let server = HelperServer.servers.get(helper);
    // Exited, though its pipes may not have closed yet (a build sent there now would be lost).
    if (server && (server.child.exitCode !== null || server.child.signalCode !== null)) server = undefined;
    if (!server || server.dead) {
      server = new HelperServer(helper);
      HelperServer.servers.set(helper, server);
    }
    return server;
  }

  /** The server's pid (for tests that kill it). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  start(description: Buffer): ServedHelper {
    // The server would refuse it by exiting, failing every build it runs.
    if (description.length > MAX_DESCRIPTION) throw new SandboxSetupError(`the sandbox description is ${description.length} bytes, more than the helper reads (${MAX_DESCRIPTION})`);
    const served = new ServedHelper(this, this.nextId++);
    this.running.set(served.id, served);
    this.busy();
    this.child.stdin!.write(Buffer.concat([frameHeader('B', served.id, description.length), description]));
    return served;
  }

  signal(id: number, signal: number): void {
    if (!this.running.has(id) || this.dead) return;
    const body = Buffer.alloc(4);
    body.writeUInt32LE(signal);
    this.child.stdin!.write(Buffer.concat([frameHeader('K', id, 4), body]));
  }

  /** A server with nothing to do must not keep the process alive. */
  private idle(): void {
    this.child.unref();
    (this.child.stdout as unknown as { unref?: () => void }).unref?.();
    (this.child.stderr as unknown as { unref?: () => void }).unref?.();
    (this.child.stdin as unknown as { unref?: () => void }).unref?.();
  }

  private busy(): void {
    this.child.ref();
    (this.child.stdout as unknown as { ref?: () => void }).ref?.();
  }

  private receive(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let offset = 0;
    while (this.pending.length - offset >= HEADER) {
      const kind = String.fromCharCode(this.pending[offset]!);
      const id = this.pending.readUInt32LE(offset + 1);
      const size = this.pending.readUInt32LE(offset + 5);
      if (this.pending.length - offset - HEADER < size) break;
      const body = this.pending.subarray(offset + HEADER, offset + HEADER + size);
      offset += HEADER + size;
      const served = this.running.get(id);
      if (!served) continue;
      if (kind === 'O' || kind === 'E' || kind === 'S') served.received(kind, body);
      else if (kind === 'X') {
        this.running.delete(id);
        served.finish(body.readUInt32LE(0));
        if (this.running.size === 0) this.idle();
      }
    }
    this.pending = this.pending.subarray(offset);
  }

  private fail(message: string): void {
    if (this.dead) return;
    this.dead = true;
    if (HelperServer.servers.get(this.helper) === this) HelperServer.servers.delete(this.helper);
    for (const served of this.running.values()) {
      served.stderr.write(`${message}\n`);
      served.finish(undefined);
    }
    this.running.clear();
  }
}

function frameHeader(kind: string, id: number, size: number): Buffer {
  const header = Buffer.alloc(HEADER);
  header.write(kind, 0, 'latin1');
  header.writeUInt32LE(id, 1);
  header.writeUInt32LE(size, 5);
  return header;
}

