/**
 * A `.drv` file is stored as a text path: its hash is the sha256 of the ATerm text, its
 * references are the input sources and the input derivations.
 */
import { renderContentAddress } from '../contentAddress.js';
import { hashBytes, type Hash } from '../hash.js';
import { DEFAULT_STORE_DIR, makeTextPath } from '../storePath.js';
import { compareByteOrder } from './byteString.js';
import type { Derivation } from './derivation.js';
import { printDerivation } from './printDerivation.js';

/** inputSrcs ∪ inputDrvs paths, sorted: what the `.drv` path is registered as referring to. */
export function derivationReferences(drv: Derivation): string[] {
  return [...new Set([...drv.inputSrcs, ...drv.inputDrvs.keys()])].sort(compareByteOrder);
}

export interface DerivationStoreObject {
  /** The `.drv` store path. */
  path: string;
  /** The file's bytes. */
  contents: Buffer;
  references: string[];
  /** sha256 of `contents`. */
  contentHash: Hash;
  /** The `ca` field it is registered with: `text:sha256:<nix32>`. */
  ca: string;
}

/** Everything needed to write `drv` into a store as `<hash>-<drvName>.drv`. */
export function derivationStoreObject(drv: Derivation, drvName: string, storeDir = DEFAULT_STORE_DIR): DerivationStoreObject {
  const contents = printDerivation(drv);
  const references = derivationReferences(drv);
  const contentHash = hashBytes('sha256', contents);
  return {
    path: makeTextPath(`${drvName}.drv`, contentHash, references, storeDir),
    contents,
    references,
    contentHash,
    ca: renderContentAddress({ method: 'text', hash: contentHash }),
  };
}

/** The store path of the `.drv` file for `drv`. */
export function derivationStorePath(drv: Derivation, drvName: string, storeDir = DEFAULT_STORE_DIR): string {
  return derivationStoreObject(drv, drvName, storeDir).path;
}
