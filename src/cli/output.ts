/** Writing to stdout/stderr from the CLI, respecting back-pressure for large streams. */
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
