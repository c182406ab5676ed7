/**
 * `nix-cache-info`, the metadata at the root of a binary cache: `StoreDir`, `WantMassQuery`,
 * `Priority` as `Key: value` lines (binary-cache.md §2).
 */
import { FormatError } from './errors.js';

export interface NixCacheInfo {
  /** The store directory the cache serves; absent = not stated. */
  storeDir?: string;
  /** `WantMassQuery: 1`: many narinfos may be asked for at once. */
  wantMassQuery: boolean;
  /** Lower is preferred; absent = the store's default. */
  priority?: number;
}

/** A `nix-cache-info` with a value Nix would not accept. */
export class NixCacheInfoFormatError extends FormatError {
  override name = 'NixCacheInfoFormatError';
}

export function parseNixCacheInfo(text: string, source: string): NixCacheInfo {
  const info: NixCacheInfo = { wantMassQuery: false };
  for (const line of text.split('\n')) {
    // Nix reads this file leniently: lines without a colon and unknown keys are skipped,
    // values are trimmed, so a hand-written file with stray spaces still works.
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (key === 'StoreDir') {
      if (!value.startsWith('/')) {
        throw new NixCacheInfoFormatError(`binary cache info '${source}': field 'StoreDir': '${value}' is not an absolute path`);
      }
      info.storeDir = value;
    } else if (key === 'WantMassQuery') {
      info.wantMassQuery = value === '1';
    } else if (key === 'Priority') {
      const priority = Number(value);
      if (!/^-?[0-9]+$/.test(value) || !Number.isSafeInteger(priority)) {
        throw new NixCacheInfoFormatError(`binary cache info '${source}': field 'Priority': '${value}' is not an integer`);
      }
      info.priority = priority;
    }
  }
  return info;
}

/** In the order cache.nixos.org serves them; `nix copy` writes just `StoreDir: …\n`. */
export function serializeNixCacheInfo(info: NixCacheInfo): string {
  let out = '';
  if (info.storeDir !== undefined) out += `StoreDir: ${info.storeDir}\n`;
  if (info.wantMassQuery) out += 'WantMassQuery: 1\n';
  if (info.priority !== undefined) out += `Priority: ${info.priority}\n`;
  return out;
}
