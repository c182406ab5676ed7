/**
 * Build logs where Nix keeps them: `<logDir>/drvs/XX/REST` for a derivation whose base name
 * is `XXREST`, bzip2-compressed as `REST.bz2` when `compress-build-log` is on, so `nix-store -l`
 * and `nix log` read ours and we read theirs.
 *
 * Compression is the `bzip2` program (the libbz2 Nix itself uses, so Nix reads every byte of it),
 * fed while the build runs. The lines go to disk first, as the plain log, and bzip2 is pumped
 * from that file, so the log can be read while it grows and memory stays bounded. When the
 * build ends the compressed log replaces the plain one.
 */
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { placeFileInPool } from '../pool/pool.js';
import { dirname } from 'node:path';
import type { StoreLayout } from '../store/layout.js';
import { BuildLogError, buildLogCandidates } from './buildLogPaths.js';
import { Bzip2Pump } from './bzip2Pump.js';

export { BuildLogError, buildLogCandidates } from './buildLogPaths.js';
export { openBuildLog, readBuildLog, type BuildLogStream } from './readBuildLog.js';

/** Lines are gathered into writes of about this size. */
const FLUSH_BYTES = 64 * 1024;

/** What bzip2 makes of nothing: most builds print nothing, and need no bzip2 process. */
const EMPTY_BZIP2 = Buffer.from('425a683917724538509000000000', 'hex');

/**
 * Runs `create` (which makes `path`), making the log's directory first when it is missing:
 * most builds find it there, and a failed mkdir costs as much as a file on some disks.
 */
function withLogDir<T>(path: string, create: () => T): T {
  try {
    return create();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    mkdirSync(dirname(path), { recursive: true });
    return create();
  }
}

export class BuildLogWriter {
  private pending = '';
  private written = 0;
  private failure: Error | undefined;
  private closed = false;
  /** Started with the first bytes of the log. */
  private pump: Bzip2Pump | undefined;

  /** The plain log, opened with the first bytes (most builds print nothing at all). */
  private fd: number | undefined;

  private constructor(
    private readonly plainPath: string,
    private readonly compress: boolean,
    private readonly compressedPath: string,
    private readonly temporaryPath: string,
  ) {}

  /**
   * Starts the log of `drvPath`, replacing any earlier log of it (in either form, so an old
   * plain log cannot shadow the new compressed one: readers try the plain name first).
   */
  static open(layout: StoreLayout, drvPath: string, compress: boolean): BuildLogWriter {
    const [plainPath, compressedPath] = buildLogCandidates(layout, drvPath) as [string, string];
    // A compressed log is replaced by a rename at close; until then the new plain log shadows it.
    if (!compress) rmSync(compressedPath, { force: true });
    // Beside the final name, so the rename is atomic and a reader never sees half a .bz2.
    const temporaryPath = `${compressedPath}.tmp-${process.pid}`;
    return new BuildLogWriter(plainPath, compress, compressedPath, temporaryPath);
  }

  private plainFd(): number {
    this.fd ??= withLogDir(this.plainPath, () => openSync(this.plainPath, 'w', 0o644));
    return this.fd;
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
      const fd = this.plainFd();
      for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset);
    } catch (e) {
      this.failure = new BuildLogError(`writing build log '${this.plainPath}': ${(e as Error).message}`);
      return;
    }
    this.written += bytes.length;
    if (this.compress) this.pump ??= new Bzip2Pump(this.plainPath, this.temporaryPath, this.compressedPath);
    this.pump?.advance(this.written);
  }

  /** Writes what is left and, when compressing, puts the `.bz2` in place of the plain log. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    // An uncompressed log exists even when empty, as nix leaves one.
    if (!this.compress) this.plainFd();
    if (this.fd !== undefined) closeSync(this.fd);
    if (this.compress) {
      // Off the main thread: the scheduler need not wait for this before the next build.
      if (this.pump) {
        await this.pump.finish(this.written);
        await rename(this.temporaryPath, this.compressedPath);
        await rm(this.plainPath, { force: true });
      } else {
        await placeFileInPool({ temporary: this.temporaryPath, path: this.compressedPath, content: EMPTY_BZIP2, mode: 0o644, remove: this.plainPath });
      }
    }
    if (this.failure) throw this.failure;
  }
}
