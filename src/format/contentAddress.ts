/**
 * Content-address strings (`ValidPaths.ca`, narinfo `CA:`): `text:sha256:<nix32>`,
 * `fixed:<algo>:<nix32>`, `fixed:r:<algo>:<nix32>`.
 */
import { FormatError } from './errors.js';
import { Hash, parseHashAlgo } from './hash.js';
import { type FileIngestionMethod, makeFixedOutputPath, makeTextPath, DEFAULT_STORE_DIR } from './storePath.js';

export type ContentAddress =
  | { method: 'text'; hash: Hash }
  | { method: FileIngestionMethod; hash: Hash };

export function renderContentAddress(ca: ContentAddress): string {
  const h = `${ca.hash.algo}:${ca.hash.toNix32()}`;
  if (ca.method === 'text') return `text:${h}`;
  return ca.method === 'recursive' ? `fixed:r:${h}` : `fixed:${h}`;
}

export function parseContentAddress(text: string): ContentAddress {
  const parts = text.split(':');
  if (parts[0] === 'text' && parts.length === 3) {
    return { method: 'text', hash: Hash.parse(parts[2]!, parseHashAlgo(parts[1]!)) };
  }
  if (parts[0] === 'fixed' && parts.length === 4 && parts[1] === 'r') {
    return { method: 'recursive', hash: Hash.parse(parts[3]!, parseHashAlgo(parts[2]!)) };
  }
  if (parts[0] === 'fixed' && parts.length === 3) {
    return { method: 'flat', hash: Hash.parse(parts[2]!, parseHashAlgo(parts[1]!)) };
  }
  throw new FormatError(`'${text}' is not a valid content address`);
}

/** The store path a content address gives for `name` and `references` (self as `:self`). */
export function contentAddressPath(
  ca: ContentAddress,
  name: string,
  references: Iterable<string>,
  selfPath: string | undefined,
  storeDir = DEFAULT_STORE_DIR,
): string {
  const refs = [...references];
  const self = selfPath !== undefined && refs.includes(selfPath);
  const others = refs.filter((r) => r !== selfPath);
  if (ca.method === 'text') return makeTextPath(name, ca.hash, others, storeDir);
  return makeFixedOutputPath(ca.method, ca.hash, name, storeDir, others, self);
}
