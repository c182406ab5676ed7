/**
 * bzip2 fed from a file that is still growing (the plain build log): the backlog waits on disk,
 * so a builder that prints faster than bzip2 compresses (~15 MB/s) never fills the driver's memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readSync, rmSync } from 'node:fs';
import { BuildLogError } from './buildLogPaths.js';

/** What the pump reads from the plain log per step. */
const PUMP_CHUNK = 256 * 1024;

/** Feeds bzip2 from the plain log as it grows, never more than one chunk in memory. */
export class Bzip2Pump {
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;
  private readonly source: number;
  private offset = 0;
  private available = 0;
  private busy = false;
  private pumped: Promise<void> = Promise.resolve();
  private failure: Error | undefined;

  /** Writes `${logPath}.tmp-PID` (named `target`), which the writer renames to `logPath`. */
  constructor(plainPath: string, private readonly target: string, private readonly logPath: string) {
    this.source = openSync(plainPath, 'r');
    const output = openSync(target, 'w', 0o644);
    try {
      this.child = spawn('bzip2', ['-c'], { stdio: ['pipe', output, 'pipe'] });
    } finally {
      closeSync(output);
    }
    let stderr = '';
    this.child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    this.exited = new Promise((resolve) => {
      this.child.on('error', (e) => {
        this.failure ??= new BuildLogError(`cannot compress build log '${logPath}': bzip2: ${e.message}`);
        resolve(null);
      });
      this.child.on('close', (code) => {
        if (code !== 0) this.failure ??= new BuildLogError(`cannot compress build log '${logPath}': bzip2 exited with ${code}: ${stderr.trim()}`);
        resolve(code);
      });
    });
    // A bzip2 that died (or never started) closes its stdin; the error is reported by finish().
    this.child.stdin!.on('error', () => {});
  }

  /** `length` bytes of the plain log are now on disk. */
  advance(length: number): void {
    this.available = length;
    // A pump that is running sees the new length before it stops: it re-checks after every write.
    if (this.busy) return;
    this.busy = true;
    this.pumped = this.pump();
  }

  /** Never rejects: a failure is kept for finish(), and bzip2 then gets nothing more. */
  private async pump(): Promise<void> {
    const stdin = this.child.stdin!;
    try {
      while (this.offset < this.available && this.failure === undefined) {
        const chunk = Buffer.allocUnsafe(Math.min(PUMP_CHUNK, this.available - this.offset));
        const read = readSync(this.source, chunk, 0, chunk.length, this.offset);
        if (read === 0) break;
        this.offset += read;
        if (!stdin.write(chunk.subarray(0, read))) {
          await Promise.race([new Promise((resolve) => stdin.once('drain', resolve)), this.exited]);
        }
      }
    } catch (e) {
      this.failure ??= new BuildLogError(`cannot compress build log '${this.logPath}': ${(e as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  async finish(length: number): Promise<void> {
    this.advance(length);
    await this.pumped;
    closeSync(this.source);
    this.child.stdin!.end();
    await this.exited;
    if (this.failure) {
      rmSync(this.target, { force: true });
      throw this.failure;
    }
  }
}
