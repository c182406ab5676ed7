/**
 * The invariants Nix checks whenever a `.drv` is registered: every output path is the one
 * computed from the derivation, and the env var named after each output holds that path.
 */
import { DerivationFormatError } from '../errors.js';
import { DEFAULT_STORE_DIR } from '../storePath.js';
import { drvNameFromPath, type Derivation } from './derivation.js';
import type { DrvReader, ModuloCache } from './hashModulo.js';
import { derivationOutputPaths } from './outputPaths.js';

/**
 * Compares a derivation with the paths its outputs must have (from outputPathsFromModulo),
 * throwing with Nix's wording at the first difference.
 */
export function checkOutputPaths(drv: Derivation, drvPath: string, expected: ReadonlyMap<string, string>): void {
  for (const [id, o] of drv.outputs) {
    const should = expected.get(id);
    // Deferred outputs (empty path) have nothing to check yet, as in Nix.
    if (should === undefined || o.path === '') continue;
    if (o.path !== should) {
      throw new DerivationFormatError(`derivation '${drvPath}' has incorrect output '${o.path}', should be '${should}'`);
    }
    if (drv.env.get(id) !== should) {
      throw new DerivationFormatError(
        `derivation '${drvPath}' has incorrect environment variable '${id}', should be '${should}'`,
      );
    }
  }
}

/** Recomputes the output paths of the derivation stored at `drvPath` and checks them. */
export function checkDerivationOutputs(
  drv: Derivation,
  drvPath: string,
  readDrv: DrvReader,
  storeDir = DEFAULT_STORE_DIR,
  cache?: ModuloCache,
): void {
  checkOutputPaths(drv, drvPath, derivationOutputPaths(drv, drvNameFromPath(drvPath), readDrv, storeDir, cache));
}
