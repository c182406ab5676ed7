/** `--dump PATH` writes a NAR to stdout; `--restore PATH` unpacks one from stdin. */
import { resolve } from 'node:path';
import { dumpPath } from '../../store/nar/dumpPath.js';
import { restorePath } from '../../store/nar/restorePath.js';
import { WireReader } from '../../format/wire.js';
import type { Settings } from '../../store/settings.js';
import { UsageError } from '../args.js';
import { writeChunks } from '../output.js';

export async function opDump(args: string[], settings: Settings): Promise<void> {
  if (args.length !== 1) throw new UsageError('--dump takes exactly one argument');
  await writeChunks(process.stdout, dumpPath(resolve(args[0]!), { useCaseHack: settings.bool('use-case-hack') }));
}

export async function opRestore(args: string[], settings: Settings): Promise<void> {
  if (args.length !== 1) throw new UsageError('--restore takes exactly one argument');
  const reader = new WireReader(process.stdin, 'NAR on standard input');
  await restorePath(resolve(args[0]!), reader, { useCaseHack: settings.bool('use-case-hack') });
}
