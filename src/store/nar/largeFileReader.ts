/**
 * Reads one large file for the async dumpPath with several positioned reads in flight on
 * libuv's thread pool, so that the copy out of the page cache, which is all the work for a
 * big file, runs on more than one core. Chunks come out in order.
 */
import { read } from 'node:fs';
import { NarDumpError } from './errors.js';

export interface LargeFileRead {
  fd: number;
  size: number;
  /** For messages. */
  display: string;
}

const BLOCK = 1 << 20;
const IN_FLIGHT = 4;

function readAt(fd: number, buffer: Buffer, length: number, position: number, display: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const step = (): void =>
      read(fd, buffer, got, length - got, position + got, (err, n) => {
        if (err) reject(err);
        else if (n === 0) reject(new NarDumpError(`file '${display}' changed while it was being dumped: it ended before ${position + length} bytes`));
        else if ((got += n) === length) resolve(buffer);
        else step();
      });
    step();
  });
}

/**
 * The file's contents in chunks of up to 1 MiB. With `reuse`, a chunk is valid only until
 * the next is requested (its buffer is read into again), as for DumpPathOptions.reuseChunks.
 */
export async function* readLargeFile(file: LargeFileRead, reuse: boolean): AsyncGenerator<Buffer> {
  const spare: Buffer[] = [];
  const pending: { read: Promise<Buffer>; length: number }[] = [];
  let issued = 0;
  const issue = (): void => {
    const length = Math.min(BLOCK, file.size - issued);
    const buffer = spare.pop() ?? Buffer.allocUnsafe(BLOCK);
    const reading = readAt(file.fd, buffer, length, issued, file.display);
    // Awaited in order below; this only keeps a failure of a later read from being unhandled.
    reading.catch(() => undefined);
    pending.push({ read: reading, length });
    issued += length;
  };
  try {
    while (pending.length < IN_FLIGHT && issued < file.size) issue();
    while (pending.length > 0) {
      const next = pending.shift()!;
      const buffer = await next.read;
      yield buffer.subarray(0, next.length);
      if (reuse) spare.push(buffer);
      while (pending.length < IN_FLIGHT && issued < file.size) issue();
    }
  } finally {
    // The fd is closed once this returns: no read may still be using it.
    await Promise.allSettled(pending.map((p) => p.read));
  }
}
