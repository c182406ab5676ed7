/** A `--store` value that names no store tsnix can open. */
export class UnknownStoreError extends Error {
  override name = 'UnknownStoreError';
}

/** Which store a command uses: `--store ROOT`, else the `store` setting, else `/`. */
import { poolDeleting, poolHashing, poolOptimising } from '../pool/pool.js';
import { resolve } from 'node:path';
import { LocalStore } from '../store/localStore.js';
import type { Settings } from '../store/settings.js';

/** Where a local store is: a physical root, and optionally its own store, state and log directories. */
export interface StoreLocation {
  root: string;
  storeDir?: string;
  stateDir?: string;
  logDir?: string;
}

const LOCAL_PARAMS: Readonly<Record<string, keyof StoreLocation>> = { root: 'root', store: 'storeDir', state: 'stateDir', log: 'logDir' };

/**
 * `local?root=/x&store=/s&state=/v&log=/l` as Nix spells a local store: `root` makes a chroot
 * store, `store` changes the logical store directory (the one in every path).
 */
function parseLocalUri(query: string, value: string): StoreLocation {
  const location: StoreLocation = { root: '/' };
  for (const [key, param] of new URLSearchParams(query)) {
    const field = LOCAL_PARAMS[key];
    if (!field) throw new UnknownStoreError(`unknown parameter '${key}' in store '${value}' (known: root, store, state, log)`);
    if (!param.startsWith('/')) throw new UnknownStoreError(`parameter '${key}' of store '${value}' must be an absolute path`);
    location[field] = param;
  }
  return location;
}

export function storeLocation(flag: string | undefined, settings: Settings): StoreLocation {
  const value = flag ?? settings.get('store');
  if (value === 'auto' || value === 'local' || value === '') return { root: '/' };
  if (value.startsWith('local?')) return parseLocalUri(value.slice('local?'.length), value);
  // A bare absolute path is a chroot store, like `local?root=`.
  if (value.startsWith('/')) return { root: value };
  // As nix 2.8: anything with a slash and no scheme is a path, relative ones included.
  if (value.includes('/') && !value.includes('://')) return { root: resolve(value) };
  throw new UnknownStoreError(`don't know how to open Nix store '${value}'`);
}

export async function openStoreForCli(flag: string | undefined, settings: Settings): Promise<LocalStore> {
  return LocalStore.open({
    ...storeLocation(flag, settings),
    settings,
    onWait: (message) => process.stderr.write(`${message}\n`),
    hashing: poolHashing,
    deleting: poolDeleting,
    optimising: poolOptimising,
  });
}
