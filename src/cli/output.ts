/** Writing to stdout/stderr from the CLI, respecting back-pressure for large streams. */
import { writeSync } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';

export function warn(message: string): void {
  process.stderr.write(`warning: ${message}\n`);
}

export function printLines(lines: Iterable<string>): void {
  let text = '';
  for (const line of lines) text += line + '\n';
  process.stdout.write(text);
}

/** Streams chunks to `out`, waiting when its buffer is full so memory stays bounded. */
export async function writeChunks(out: Writable, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const chunk of chunks) {
    if (!out.write(chunk)) await once(out, 'drain');
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes all of `chunk` to `fd` before returning, so the caller may reuse the buffer at once
 * (the NAR dumper refills one buffer: allocating a fresh megabyte per chunk costs more than
 * the copy itself). A non-blocking pipe that is full answers EAGAIN: wait a moment and retry.
 */
export function writeAllSync(fd: number, chunk: Uint8Array): void {
  let offset = 0;
  while (offset < chunk.length) {
    try {
      offset += writeSync(fd, chunk, offset, chunk.length - offset);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(sleeper, 0, 0, 1);
    }
  }
}
