/**
 * Store paths: `<storeDir>/<32 nix32 chars>-<name>`, computed from a fingerprint that
 * names the kind of path, its inner hash, the store directory and the name.
 */
import { encodeNix32, isNix32 } from './base32.js';
import { InvalidPathError } from './errors.js';
import { foldHash, Hash, sha256 } from './hash.js';

export const DEFAULT_STORE_DIR = '/nix/store';
export const HASH_PART_LENGTH = 32;
export const MAX_NAME_LENGTH = 211;

const NAME_CHAR = /^[A-Za-z0-9+\-._?=]+$/;

/** Throws InvalidPathError with Nix's wording when `name` is not a valid store path name. */
export function checkStorePathName(name: string, context = name): void {
  if (name.length === 0) throw new InvalidPathError(`store path '${context}' has an empty name`);
  if (name.length > MAX_NAME_LENGTH) {
    throw new InvalidPathError(`store path '${context}' has a name longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (!NAME_CHAR.test(name)) {
    const bad = [...name].find((c) => !NAME_CHAR.test(c));
    throw new InvalidPathError(`store path '${context}' contains illegal character '${bad}'`);
  }
}

export interface ParsedStorePath {
  hashPart: string;
  name: string;
  /** `<hashPart>-<name>` */
  baseName: string;
}

/** Splits and validates a base name `<hash>-<name>`. */
export function parseBaseName(baseName: string): ParsedStorePath {
  if (baseName.length < HASH_PART_LENGTH + 2 || baseName[HASH_PART_LENGTH] !== '-') {
    throw new InvalidPathError(`path '${baseName}' is not a valid store path base name`);
  }
  const hashPart = baseName.slice(0, HASH_PART_LENGTH);
  if (!isNix32(hashPart)) throw new InvalidPathError(`store path '${baseName}' has an invalid hash part`);
  const name = baseName.slice(HASH_PART_LENGTH + 1);
  checkStorePathName(name, baseName);
  return { hashPart, name, baseName };
}

/** Parses a full store path; it must lie directly in `storeDir`. */
export function parseStorePath(path: string, storeDir = DEFAULT_STORE_DIR): ParsedStorePath {
  if (!path.startsWith(storeDir + '/')) throw new InvalidPathError(`path '${path}' is not in the Nix store`);
  const baseName = path.slice(storeDir.length + 1);
  if (baseName.includes('/')) throw new InvalidPathError(`path '${path}' is not a store path (it is inside one)`);
  return parseBaseName(baseName);
}

export function isStorePath(path: string, storeDir = DEFAULT_STORE_DIR): boolean {
  try {
    parseStorePath(path, storeDir);
    return true;
  } catch (e) {
    if (e instanceof InvalidPathError) return false;
    throw e;
  }
}

/**
 * For a path inside the store (`/nix/store/x-y/bin/z`), the store path it belongs to.
 * Throws when the path is not inside the store.
 */
export function toStorePath(path: string, storeDir = DEFAULT_STORE_DIR): string {
  if (!path.startsWith(storeDir + '/')) throw new InvalidPathError(`path '${path}' is not in the Nix store`);
  const slash = path.indexOf('/', storeDir.length + 1);
  const storePath = slash < 0 ? path : path.slice(0, slash);
  parseStorePath(storePath, storeDir);
  return storePath;
}

export function isDerivationPath(path: string): boolean {
  return path.endsWith('.drv');
}

/** The fingerprint → sha256 → 20-byte fold → nix32 computation shared by every kind of path. */
export function makeStorePath(type: string, innerHash: Hash, name: string, storeDir = DEFAULT_STORE_DIR): string {
  checkStorePathName(name);
  const fingerprint = `${type}:${innerHash.algo}:${innerHash.toBase16()}:${storeDir}:${name}`;
  return `${storeDir}/${encodeNix32(foldHash(sha256(fingerprint), 20))}-${name}`;
}

function typeWithReferences(base: string, references: Iterable<string>, selfReference: boolean): string {
  let type = base;
  for (const ref of [...references].sort()) type += ':' + ref;
  if (selfReference) type += ':self';
  return type;
}

/** A text path (`builtins.toFile`, `.drv` files): inner hash = sha256 of the contents. */
export function makeTextPath(name: string, contentHash: Hash, references: Iterable<string>, storeDir = DEFAULT_STORE_DIR): string {
  if (contentHash.algo !== 'sha256') throw new InvalidPathError(`text path '${name}' must use a sha256 hash`);
  return makeStorePath(typeWithReferences('text', references, false), contentHash, name, storeDir);
}

export type FileIngestionMethod = 'flat' | 'recursive';

/**
 * A fixed-output (content-addressed) path. Recursive sha256 is the same as a source path
 * (so `nix-store --add` and `fetchurl`-style recursive outputs coincide); the rest hash a
 * `fixed:out:` string and may not have references.
 */
export function makeFixedOutputPath(
  method: FileIngestionMethod,
  hash: Hash,
  name: string,
  storeDir = DEFAULT_STORE_DIR,
  references: Iterable<string> = [],
  selfReference = false,
): string {
  if (method === 'recursive' && hash.algo === 'sha256') {
    return makeStorePath(typeWithReferences('source', references, selfReference), hash, name, storeDir);
  }
  if ([...references].length > 0 || selfReference) {
    throw new InvalidPathError(`fixed-output path '${name}' cannot have references`);
  }
  const inner = `fixed:out:${method === 'recursive' ? 'r:' : ''}${hash.algo}:${hash.toBase16()}:`;
  return makeStorePath('output:out', new Hash('sha256', sha256(inner)), name, storeDir);
}

/** The name of output `id` of derivation `drvName` (`out` keeps the bare name). */
export function outputPathName(drvName: string, id: string): string {
  return id === 'out' ? drvName : `${drvName}-${id}`;
}

/** An input-addressed output path from the derivation's masked hashDerivationModulo. */
export function makeOutputPath(id: string, hashModulo: Hash, drvName: string, storeDir = DEFAULT_STORE_DIR): string {
  return makeStorePath(`output:${id}`, hashModulo, outputPathName(drvName, id), storeDir);
}
