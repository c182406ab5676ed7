/** `--dump PATH` writes a NAR to stdout. */
import { resolve } from 'node:path';
import { dumpPath } from '../../store/nar/dumpPath.js';
import type { Settings } from '../../store/settings.js';
import { writeAllSync } from '../output.js';

export async function opDump(args: string[], settings: Settings): Promise<void> {
  // Refilled chunks are safe, and so is sending large files' contents to stdout directly:
  // each chunk is written out in full before the next is made.
  const options = { useCaseHack: settings.bool('use-case-hack'), reuseChunks: true, sendFileTo: 1 };
  for await (const chunk of dumpPath(resolve(args[0]!), options)) {
    writeAllSync(1, chunk);
  }
}
