/**
 * The checks of a path that comes from outside (a client, another machine): its NAR unpacked
 * into a temporary directory while it is hashed, against the size, hash and content address
 * it was announced with, and its signatures by Nix's rule. Nothing is registered here.
 */
import { contentAddressPath, parseContentAddress } from '../format/contentAddress.js';
import { narInfoFingerprint } from '../format/narinfo.js';
import { parsePublicKey, verifySignature } from '../format/signing.js';
import { parseStorePath } from '../format/storePath.js';
import type { WireReader } from '../format/wire.js';
import { contentAddressMismatch } from './contentAddressHash.js';
import type { LocalStore } from './localStore.js';
import { restorePath } from './nar/index.js';
import type { ValidPathInfo } from './pathInfo.js';
import { TempDir, type TempContent } from './tempPath.js';

/** A failure of the content itself (a daemon client is told; its connection goes on). */
export class AddPathError extends Error {
  override name = 'AddPathError';
}

/** Whether `info` is a content-addressed path whose address gives its own path (then it needs no signature). */
function isContentAddressed(info: ValidPathInfo, store: LocalStore): boolean {
  if (info.ca === undefined) return false;
  try {
    const name = parseStorePath(info.path, store.storeDir).name;
    return contentAddressPath(parseContentAddress(info.ca), name, info.references, info.path, store.storeDir) === info.path;
  } catch {
    return false;
  }
}

/** Nix's rule for adding a path from outside: signed by a trusted key, unless the checks are off. */
export function checkSignatures(info: ValidPathInfo, store: LocalStore, checkSigs: boolean): void {
  if (!checkSigs || !store.settings.bool('require-sigs') || isContentAddressed(info, store)) return;
  const keys = store.settings.strings('trusted-public-keys').map((k) => parsePublicKey(k, "setting 'trusted-public-keys'"));
  const fingerprint = narInfoFingerprint({ storePath: info.path, narHash: info.narHash, narSize: info.narSize, references: info.references });
  if (!info.sigs.some((sig) => verifySignature(sig, fingerprint, keys))) {
    throw new AddPathError(`cannot add path '${info.path}' because it lacks a signature by a trusted key`);
  }
}

/**
 * Unpacks the NAR on `reader` into a new temporary directory (or a part of `within`, for
 * many paths imported together) and checks it against `info`.
 */
export async function unpackChecked(store: LocalStore, reader: WireReader, info: ValidPathInfo, within?: TempDir): Promise<TempContent> {
  const temp = within ? within.part() : await TempDir.create(store.layout, 'import', store.onWait);
  try {
    const { narHash, narSize } = await restorePath(temp.contentPath, reader, { useCaseHack: store.useCaseHack });
    if (!narHash.equals(info.narHash)) {
      throw new AddPathError(`hash mismatch importing path '${info.path}';\n  specified: ${info.narHash.format('nix32')}\n  got:       ${narHash.format('nix32')}`);
    }
    if (info.narSize !== 0 && narSize !== info.narSize) {
      throw new AddPathError(`size mismatch importing path '${info.path}';\n  specified: ${info.narSize}\n  got:       ${narSize}`);
    }
    info.narSize = narSize;
    // Whatever the client says (and a content address spares it a signature): the content
    // must have the address, as nix's "ca hash mismatch".
    if (info.ca !== undefined) {
      let mismatch;
      try {
        mismatch = await contentAddressMismatch(info.ca, temp.contentPath, narHash);
      } catch (e) {
        throw new AddPathError(`path '${info.path}' has an unusable content address '${info.ca}': ${(e as Error).message}`);
      }
      if (mismatch !== undefined) {
        throw new AddPathError(`ca hash mismatch importing path '${info.path}';\n  specified: ${mismatch.expected.format('nix32')}\n  got:       ${mismatch.actual.format('nix32')}`);
      }
    }
    return temp;
  } catch (e) {
    temp.remove();
    throw e;
  }
}

