/** Reading a build log, plain or bzip2, from wherever Nix would look for it. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, createReadStream, openSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { StoreLayout } from '../store/layout.js';
import { BuildLogError, buildLogCandidates } from './buildLogPaths.js';

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
