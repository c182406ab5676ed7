/**
 * The store path each output of a derivation must have: input-addressed outputs from the
 * masked modulo hash, a fixed output from its method, algorithm, digest and name.
 */
import { DerivationFormatError } from '../errors.js';
import type { Hash } from '../hash.js';
import { DEFAULT_STORE_DIR, makeFixedOutputPath, makeOutputPath, outputPathName } from '../storePath.js';
import type { Derivation } from './derivation.js';
import { hashDerivationModulo, type DrvReader, type ModuloCache } from './hashModulo.js';
import { derivationKind, fixedOutputHash } from './outputKind.js';

/**
 * Output name -> store path, given the masked modulo hash (only needed, and only used,
 * for input-addressed derivations; get it from hashDerivationModulo or its async form).
 */
export function outputPathsFromModulo(
  drv: Derivation,
  drvName: string,
  maskedModulo: Hash | undefined,
  storeDir = DEFAULT_STORE_DIR,
): Map<string, string> {
  const kind = derivationKind(drv);
  const paths = new Map<string, string>();
  if (kind === 'fixed') {
    const { method, hash } = fixedOutputHash(drv.outputs.get('out')!);
    paths.set('out', makeFixedOutputPath(method, hash, outputPathName(drvName, 'out'), storeDir));
    return paths;
  }
  if (kind !== 'inputAddressed' && kind !== 'deferred') {
    throw new DerivationFormatError(
      `derivation '${drvName}' has ${kind} outputs (an experimental Nix feature), whose paths are not known before the build`,
    );
  }
  if (!maskedModulo) throw new DerivationFormatError(`the output paths of '${drvName}' need its masked modulo hash`);
  for (const id of drv.outputs.keys()) paths.set(id, makeOutputPath(id, maskedModulo, drvName, storeDir));
  return paths;
}

/** Whether outputPathsFromModulo needs the modulo hash for this derivation. */
export function needsModuloHash(drv: Derivation): boolean {
  const kind = derivationKind(drv);
  return kind === 'inputAddressed' || kind === 'deferred';
}

/** Output name -> the store path it must have. `readDrv` loads input derivations by path. */
export function derivationOutputPaths(
  drv: Derivation,
  drvName: string,
  readDrv: DrvReader,
  storeDir = DEFAULT_STORE_DIR,
  cache?: ModuloCache,
): Map<string, string> {
  const modulo = needsModuloHash(drv) ? hashDerivationModulo(drv, true, readDrv, cache) : undefined;
  return outputPathsFromModulo(drv, drvName, modulo, storeDir);
}
