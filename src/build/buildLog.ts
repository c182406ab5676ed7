/**
 * Build logs where Nix keeps them: `<logDir>/drvs/XX/REST` for a derivation whose base name
 * is `XXREST`, bzip2-compressed as `REST.bz2` when `compress-build-log` is on, so `nix-store -l`
 * and `nix log` read ours and we read theirs.
 *
 * Compression is the `bzip2` program (the libbz2 Nix itself uses, so Nix reads every byte of it),
 * fed while the build runs. The lines go to disk first, as the plain log, and bzip2 is pumped
 * from that file: a builder that prints faster than bzip2 compresses (~15 MB/s) then fills the
 * disk it would fill anyway, never the driver's memory, and the log can be read while it grows.
 * When the build ends the compressed log replaces the plain one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createReadStream, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { once } from 'node:events';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { StoreLayout } from '../store/layout.js';

export class BuildLogError extends Error {
  override name = 'BuildLogError';
}

/** Lines are gathered into writes of about this size. */
const FLUSH_BYTES = 64 * 1024;
/** What the pump reads from the plain log per step. */
const PUMP_CHUNK = 256 * 1024;

/** The files a derivation's log may be in, in the order Nix looks (the flat `drvs/BASE` is Nix's old layout). */
export function buildLogCandidates(layout: StoreLayout, drvPath: string): string[] {
  const base = basename(drvPath);
  const drvsDir = join(layout.logDir, 'drvs');
  const current = join(drvsDir, base.slice(0, 2), base.slice(2));
  const old = join(drvsDir, base);
  return [current, current + '.bz2', old, old + '.bz2'];
}

/** Feeds bzip2 from the plain log as it grows, never more than one chunk in memory. */
class Bzip2Pump {
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

export class BuildLogWriter {
  private pending = '';
  private written = 0;
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    private readonly fd: number,
    private readonly plainPath: string,
    private readonly pump: Bzip2Pump | undefined,
    private readonly compressedPath: string,
    private readonly temporaryPath: string,
  ) {}

  /**
   * Starts the log of `drvPath`, replacing any earlier log of it (in either form, so an old
   * plain log cannot shadow the new compressed one: readers try the plain name first).
   */
  static open(layout: StoreLayout, drvPath: string, compress: boolean): BuildLogWriter {
    const [plainPath, compressedPath] = buildLogCandidates(layout, drvPath) as [string, string];
    mkdirSync(join(plainPath, '..'), { recursive: true });
    // A compressed log is replaced by a rename at close; until then the new plain log shadows it.
    if (!compress) rmSync(compressedPath, { force: true });
    const fd = openSync(plainPath, 'w', 0o644);
    // Beside the final name, so the rename is atomic and a reader never sees half a .bz2.
    const temporaryPath = `${compressedPath}.tmp-${process.pid}`;
    const pump = compress ? new Bzip2Pump(plainPath, temporaryPath, compressedPath) : undefined;
    return new BuildLogWriter(fd, plainPath, pump, compressedPath, temporaryPath);
  }

  /**
   * Appends one line (a newline is added). A write error (a full disk) is kept for close()
   * to report, and the log ends there; the build it belongs to goes on.
   */
  writeLine(line: string): void {
    if (this.closed) throw new BuildLogError(`build log '${this.plainPath}' is already closed`);
    this.pending += line + '\n';
    if (this.pending.length >= FLUSH_BYTES) this.flush();
  }

  private flush(): void {
    if (this.pending === '' || this.failure) return;
    const bytes = Buffer.from(this.pending, 'utf8');
    this.pending = '';
    try {
      for (let offset = 0; offset < bytes.length; ) offset += writeSync(this.fd, bytes, offset);
    } catch (e) {
      this.failure = new BuildLogError(`writing build log '${this.plainPath}': ${(e as Error).message}`);
      return;
    }
    this.written += bytes.length;
    this.pump?.advance(this.written);
  }

  /** Writes what is left and, when compressing, puts the `.bz2` in place of the plain log. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    closeSync(this.fd);
    if (this.pump) {
      await this.pump.finish(this.written);
      renameSync(this.temporaryPath, this.compressedPath);
      rmSync(this.plainPath, { force: true });
    }
    if (this.failure) throw this.failure;
  }
}

/** Spawns `bzip2 -dc` on `path`; its stdout is the log, its exit tells whether the file was sound. */
function decompress(path: string, fd: number): { stdout: Readable; done: Promise<void> } {
  const child = spawn('bzip2', ['-dc'], { stdio: [fd, 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (e) => reject(new BuildLogError(`cannot decompress build log '${path}': bzip2: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new BuildLogError(`cannot decompress build log '${path}': ${stderr.trim() || `bzip2 exited with ${code}`}`));
    });
  });
  return { stdout: child.stdout!, done };
}

function openIfExists(path: string): number | undefined {
  try {
    return openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export interface BuildLogStream {
  /** The log's bytes, decompressed. */
  stream: Readable;
  /** Settles once the whole log was read: rejects when a compressed log turned out corrupt. */
  done: Promise<void>;
}

/** The log of `drvPath` as a stream, or undefined when there is none. */
export async function openBuildLog(layout: StoreLayout, drvPath: string): Promise<BuildLogStream | undefined> {
  for (const path of buildLogCandidates(layout, drvPath)) {
    const fd = openIfExists(path);
    if (fd === undefined) continue;
    if (!path.endsWith('.bz2')) {
      const stream = createReadStream('', { fd });
      return { stream, done: once(stream, 'close').then(() => {}) };
    }
    try {
      const { stdout, done } = decompress(path, fd);
      return { stream: stdout, done };
    } finally {
      closeSync(fd);
    }
  }
  return undefined;
}

/**
 * The whole log of `drvPath` (plain or `.bz2`), or undefined when there is none. Like Nix,
 * a compressed log that does not decompress counts as missing and the next place is tried.
 */
export async function readBuildLog(layout: StoreLayout, drvPath: string): Promise<Buffer | undefined> {
  for (const path of buildLogCandidates(layout, drvPath)) {
    const fd = openIfExists(path);
    if (fd === undefined) continue;
    if (!path.endsWith('.bz2')) {
      const stream = createReadStream('', { fd });
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    }
    let log: Promise<Buffer>;
    let done: Promise<void>;
    try {
      const child = decompress(path, fd);
      done = child.done;
      log = (async () => {
        const chunks: Buffer[] = [];
        for await (const chunk of child.stdout) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks);
      })();
    } finally {
      closeSync(fd);
    }
    try {
      const [, bytes] = await Promise.all([done, log]);
      return bytes;
    } catch (e) {
      if (!(e instanceof BuildLogError)) throw e;
    }
  }
  return undefined;
}
