/** `-l`/`--read-log`: print the build log of derivations, or of the derivations that made paths. */
import { openBuildLog } from '../../build/readBuildLog.js';
import { isDerivationPath } from '../../format/storePath.js';
import type { LocalStore } from '../../store/localStore.js';
import { queryPathInfo } from '../../store/queryPathInfo.js';
import type { ParsedArgs } from '../args.js';
import { followLinksToStorePath } from '../followLinks.js';
import { writeChunks } from '../output.js';

export class BuildLogNotAvailableError extends Error {
  override name = 'BuildLogNotAvailableError';
}

/**
 * The derivation whose log stands for `path`: itself, or the deriver the database records
 * (none for an invalid path or one added with --add; then there is no log, as in nix).
 */
function derivationFor(store: LocalStore, path: string): string | undefined {
  if (isDerivationPath(path)) return path;
  return queryPathInfo(store.db, path)?.deriver;
}

export async function opReadLog(store: LocalStore, parsed: ParsedArgs): Promise<number> {
  for (const arg of parsed.args) {
    const path = followLinksToStorePath(arg, store.storeDir);
    const drvPath = derivationFor(store, path);
    const log = drvPath === undefined ? undefined : await openBuildLog(store.layout, drvPath);
    // nix names the argument here, even when it looked up the deriver's log.
    if (log === undefined) throw new BuildLogNotAvailableError(`build log of derivation '${path}' is not available`);
    // Both at once: a reader that goes away (`| head`) must not leave bzip2's failure unheard.
    await Promise.all([writeChunks(process.stdout, log.stream), log.done]);
  }
  return 0;
}
