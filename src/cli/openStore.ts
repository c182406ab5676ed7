/** A `--store` value that names no store tsnix can open. */
export class UnknownStoreError extends Error {
  override name = 'UnknownStoreError';
}

/** Which store a command uses: `--store ROOT`, else the `store` setting, else `/`. */
import { poolHashing } from '../pool/pool.js';
import { resolve } from 'node:path';
import { LocalStore } from '../store/localStore.js';
import type { Settings } from '../store/settings.js';

export function storeRoot(flag: string | undefined, settings: Settings): string {
  const value = flag ?? settings.get('store');
  if (value === 'auto' || value === 'local' || value === '') return '/';
  // `local?root=/x` is Nix's spelling of a chroot store; a bare absolute path means the same.
  const m = /^local\?root=(\/.*)$/.exec(value);
  if (m) return m[1]!;
  if (value.startsWith('/')) return value;
  // As nix 2.8: anything with a slash and no scheme is a path, relative ones included.
  if (value.includes('/') && !value.includes('://')) return resolve(value);
  throw new UnknownStoreError(`don't know how to open Nix store '${value}'`);
}

export async function openStoreForCli(flag: string | undefined, settings: Settings): Promise<LocalStore> {
  return LocalStore.open({
    root: storeRoot(flag, settings),
    settings,
    onWait: (message) => process.stderr.write(`${message}\n`),
    hashing: poolHashing,
  });
}
