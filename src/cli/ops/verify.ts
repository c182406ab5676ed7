/** `--verify [--check-contents]`, `--verify-path PATHS` and `--check-validity [--print-invalid]`. */
import type { LocalStore } from '../../store/localStore.js';
import { PathNotValidError } from '../../store/dbErrors.js';
import { isValidPath } from '../../store/queryPathInfo.js';
import { verifyPathContents, verifyStore } from '../../store/verifyStore.js';
import type { ParsedArgs } from '../args.js';
import { followLinksToStorePath } from '../followLinks.js';
import { printLines, warn } from '../output.js';

const toStderr = (message: string): void => {
  process.stderr.write(`${message}\n`);
};

export async function opVerify(store: LocalStore, parsed: ParsedArgs): Promise<number> {
  const repair = parsed.repair
    ? async (paths: string[]): Promise<boolean> => (await (await import('./realise.js')).repairPaths(store, paths)) === 0
    : undefined;
  const { allFixed } = await verifyStore(store, parsed.checkContents, toStderr, repair);
  if (allFixed) return 0;
  warn('not all store errors were fixed');
  return 1;
}

export async function opVerifyPath(store: LocalStore, args: string[]): Promise<number> {
  const paths = args.map((a) => followLinksToStorePath(a, store.storeDir));
  return (await verifyPathContents(store, paths, toStderr)) ? 0 : 1;
}

export function opCheckValidity(store: LocalStore, parsed: ParsedArgs): number {
  for (const arg of parsed.args) {
    const path = followLinksToStorePath(arg, store.storeDir);
    if (isValidPath(store.db, path)) continue;
    if (!parsed.printInvalid) throw new PathNotValidError(path);
    printLines([path]);
  }
  return 0;
}
