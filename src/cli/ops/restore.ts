/** `--restore PATH` unpacks a NAR from stdin. */
import { existsSync, renameSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { restorePath } from '../../store/nar/restorePath.js';
import { deletePathSync } from '../../store/deletePath.js';
import { NarRestoreError } from '../../store/nar/errors.js';
import { WireReader } from '../../format/wire.js';
import type { Settings } from '../../store/settings.js';

/**
 * Unpacks beside the target and renames at the end, so a malformed or truncated archive
 * leaves nothing at the target (nix-store would leave what it had unpacked so far).
 */
export async function opRestore(args: string[], settings: Settings): Promise<void> {
  const target = resolve(args[0]!);
  if (existsSync(target)) throw new NarRestoreError(`cannot restore to '${target}': it already exists`);
  const temp = join(dirname(target), `.${basename(target)}.tsnix-restore-${process.pid}`);
  try {
    await restorePath(temp, new WireReader(process.stdin, 'NAR on standard input'), { useCaseHack: settings.bool('use-case-hack'), storeModes: false });
    // rename() would silently replace a target made meanwhile (an empty directory, a file).
    if (existsSync(target)) throw new NarRestoreError(`cannot restore to '${target}': it already exists`);
    renameSync(temp, target);
  } catch (e) {
    deletePathSync(temp);
    // Messages should name what the user asked for, not our temporary name.
    if (e instanceof Error) e.message = e.message.split(temp).join(target);
    throw e;
  }
}
