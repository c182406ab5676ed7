/** `--gc`, `--delete` and `--optimise`, printed as nix-store prints them. */
import { collectGarbage, freedLine, type GcResults } from '../../store/gc.js';
import type { LocalStore } from '../../store/localStore.js';
import { findRoots, rootLinks } from '../../store/roots.js';
import type { ParsedArgs } from '../args.js';
import { followLinksToStorePath } from '../followLinks.js';
import { printLines } from '../output.js';

function info(message: string): void {
  process.stderr.write(`${message}\n`);
}

export async function opGC(store: LocalStore, parsed: ParsedArgs): Promise<number> {
  if (parsed.gcPrint === 'roots') {
    printLines(rootLinks(findRoots(store.layout, store.db, { info })).map(([link, target]) => `${link} -> ${target}`));
    return 0;
  }
  const action = parsed.gcPrint === 'live' ? 'return-live' : parsed.gcPrint === 'dead' ? 'return-dead' : 'delete-dead';
  const results = await collectGarbage(store, { action, info, ...(parsed.maxFreed !== undefined ? { maxFreed: parsed.maxFreed } : {}) });
  if (action === 'delete-dead') printLines([freedLine(results)]);
  else printLines(results.paths);
  return 0;
}

export async function opDelete(store: LocalStore, parsed: ParsedArgs): Promise<number> {
  const pathsToDelete = parsed.args.map((a) => followLinksToStorePath(a, store.storeDir));
  const results: GcResults = { paths: [], bytesFreed: 0 };
  try {
    await collectGarbage(store, { action: 'delete-specific', pathsToDelete, ignoreLiveness: parsed.ignoreLiveness, info, results });
  } finally {
    // Also when a live path stops it: what was deleted before it is gone, as nix tells.
    printLines([freedLine(results)]);
  }
  return 0;
}
