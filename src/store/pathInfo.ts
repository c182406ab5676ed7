/**
 * What the database knows about a valid path, and its mapping to and from a `ValidPaths` row
 * (column formats: database.md §4).
 */
import { parseContentAddress, contentAddressPath } from '../format/contentAddress.js';
import { FormatError, InvalidPathError } from '../format/errors.js';
import { Hash } from '../format/hash.js';
import { parseStorePath } from '../format/storePath.js';

export interface ValidPathInfo {
  path: string;
  /** SHA-256 of the path's NAR serialisation. */
  narHash: Hash;
  narSize: number;
  /** Sorted; may include `path` itself. */
  references: string[];
  deriver?: string;
  /** Unix seconds; 0 on registration means "now". */
  registrationTime: number;
  /** True when this store built the path itself. */
  ultimate: boolean;
  /** `<keyname>:<base64>` signatures. */
  sigs: string[];
  /** Content address (`fixed:r:sha256:…`, `text:sha256:…`). */
  ca?: string;
}

/** A ValidPathInfo with the defaults a fresh source path has. */
export function makePathInfo(
  fields: Pick<ValidPathInfo, 'path' | 'narHash' | 'narSize'> & Partial<ValidPathInfo>,
): ValidPathInfo {
  return {
    references: [],
    registrationTime: 0,
    ultimate: false,
    sigs: [],
    ...fields,
  };
}

/** A `ValidPaths` row as better-sqlite3 returns it. */
export interface PathInfoRow {
  id: number;
  hash: string;
  registrationTime: number;
  deriver: string | null;
  narSize: number | null;
  ultimate: number | null;
  sigs: string | null;
  ca: string | null;
}

/** The columns written for `info`: NULL, never '' or 0, for what is absent (as Nix writes). */
export interface PathInfoColumns {
  hash: string;
  registrationTime: number;
  deriver: string | null;
  narSize: number | null;
  ultimate: number | null;
  sigs: string | null;
  ca: string | null;
}

export function pathInfoColumns(info: ValidPathInfo, now = Math.floor(Date.now() / 1000)): PathInfoColumns {
  return {
    hash: info.narHash.format('base16'),
    registrationTime: info.registrationTime === 0 ? now : info.registrationTime,
    deriver: info.deriver ? info.deriver : null,
    narSize: info.narSize !== 0 ? info.narSize : null,
    ultimate: info.ultimate ? 1 : null,
    sigs: info.sigs.length > 0 ? info.sigs.join(' ') : null,
    ca: info.ca ? info.ca : null,
  };
}

/** Reads a row leniently, like Nix: any typed hash form, NULL narSize as 0, '' as absent. */
export function rowToPathInfo(path: string, row: PathInfoRow, references: string[]): ValidPathInfo {
  let narHash: Hash;
  try {
    narHash = Hash.parse(row.hash);
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    throw new FormatError(`invalid NAR hash '${row.hash}' of path '${path}' in the database: ${e.message}`);
  }
  const info: ValidPathInfo = {
    path,
    narHash,
    narSize: row.narSize ?? 0,
    references: [...references].sort(),
    registrationTime: row.registrationTime,
    ultimate: row.ultimate === 1,
    sigs: row.sigs ? row.sigs.split(' ').filter((s) => s.length > 0) : [],
  };
  if (row.deriver) info.deriver = row.deriver;
  if (row.ca) info.ca = row.ca;
  return info;
}

/**
 * Whether `info.ca` really gives `info.path` (Nix's isContentAddressed). Throws FormatError when
 * `ca` does not parse.
 */
export function caMatchesPath(info: ValidPathInfo, storeDir: string): boolean {
  if (!info.ca) return false;
  const ca = parseContentAddress(info.ca);
  const { name } = parseStorePath(info.path, storeDir);
  // A text path's hash covers its contents, which cannot contain the path itself.
  if (ca.method === 'text' && info.references.includes(info.path)) return false;
  try {
    return contentAddressPath(ca, name, info.references, info.path, storeDir) === info.path;
  } catch (e) {
    // A flat or non-sha256 address with references names no path at all.
    if (e instanceof InvalidPathError) return false;
    throw e;
  }
}
