/**
 * `--add-drv FILE…`: derivations written elsewhere into this store, each FILE either a `.drv`
 * as nix-instantiate writes it or the JSON `nix show-derivation` prints. All files are read
 * and checked before anything is written, so a bad one adds nothing; inputs among them are
 * added before their users whatever the order of the files.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseDerivation, parseDerivationJson } from '../../format/derivation/index.js';
import { isDerivationPath, isStorePath } from '../../format/storePath.js';
import { addDerivations, type DerivationToAdd } from '../../store/addDerivation.js';
import type { LocalStore } from '../../store/localStore.js';
import type { ParsedArgs } from '../args.js';
import { printLines } from '../output.js';

function looksLikeJson(bytes: Buffer): boolean {
  for (const byte of bytes) {
    if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) continue;
    return byte === 0x7b; // '{'
  }
  return false;
}

function readDerivationFile(file: string, storeDir: string): DerivationToAdd[] {
  const bytes = readFileSync(file);
  const source = `file '${file}'`;
  if (looksLikeJson(bytes)) {
    // Keyed by .drv path: each key is the path its derivation must have (and every message
    // about an entry names that path).
    return [...parseDerivationJson(bytes, file)].map(([expectedPath, drv]) => ({ drv, expectedPath, source }));
  }
  const drv = parseDerivation(bytes, file);
  // A file named like a store path (as nix-instantiate's are, and copies of them usually
  // are) must hold that path's contents: the name is a checksum worth checking.
  const named = `${storeDir}/${basename(file)}`;
  return [{ drv, source, ...(isDerivationPath(named) && isStorePath(named, storeDir) ? { expectedPath: named } : {}) }];
}

export async function opAddDrv(store: LocalStore, parsed: ParsedArgs): Promise<number> {
  const items = parsed.args.flatMap((file) => readDerivationFile(file, store.storeDir));
  printLines(await addDerivations(store, items));
  return 0;
}
