/**
 * What nix-instantiate does after evaluation: given a derivation whose outputs are not
 * filled in yet, compute every output path and put it both in the output tuple and in
 * the env var named after the output. Lets code and tests write derivations without Nix.
 */
import { DEFAULT_STORE_DIR, makeFixedOutputPath, outputPathName } from '../storePath.js';
import { cloneDerivation, type Derivation } from './derivation.js';
import { hashDerivationModulo, hashDerivationModuloAsync, type AsyncDrvReader, type DrvReader, type ModuloCache } from './hashModulo.js';
import { fixedOutputHash, isFixedOutput } from './outputKind.js';
import { outputPathsFromModulo } from './outputPaths.js';

/**
 * A copy with every output path and every output env var set to `""`: the
 * state in which Nix hashes a new derivation (the env vars must exist to be masked).
 */
export function blankOutputs(drv: Derivation): Derivation {
  const blank = cloneDerivation(drv);
  for (const [id, o] of blank.outputs) {
    o.path = '';
    blank.env.set(id, '');
  }
  return blank;
}

/** A copy with `paths` (output name -> store path) written into the outputs and env. */
export function withOutputPaths(drv: Derivation, paths: ReadonlyMap<string, string>): Derivation {
  const filled = cloneDerivation(drv);
  for (const [id, o] of filled.outputs) {
    const path = paths.get(id);
    if (path === undefined) continue;
    o.path = path;
    filled.env.set(id, path);
  }
  return filled;
}

/** A fixed output's path depends only on its hash and name, so it needs no modulo hash. */
function fillFixed(drv: Derivation, drvName: string, storeDir: string): Derivation {
  const { method, hash } = fixedOutputHash(drv.outputs.get('out')!);
  const path = makeFixedOutputPath(method, hash, outputPathName(drvName, 'out'), storeDir);
  return withOutputPaths(drv, new Map([['out', path]]));
}

/**
 * Fills in the outputs of `drv` (output paths may be `""`; for a fixed output give
 * hashAlgo and the base16 hash). `drvName` is the name the `.drv` file will have.
 */
export function fillDerivationOutputs(
  drv: Derivation,
  drvName: string,
  readDrv: DrvReader,
  storeDir = DEFAULT_STORE_DIR,
  cache?: ModuloCache,
): Derivation {
  if (isFixedOutput(drv)) return fillFixed(drv, drvName, storeDir);
  const blank = blankOutputs(drv);
  const modulo = hashDerivationModulo(blank, true, readDrv, cache);
  return withOutputPaths(blank, outputPathsFromModulo(blank, drvName, modulo, storeDir));
}

export async function fillDerivationOutputsAsync(
  drv: Derivation,
  drvName: string,
  readDrv: AsyncDrvReader,
  storeDir = DEFAULT_STORE_DIR,
  cache?: ModuloCache,
): Promise<Derivation> {
  if (isFixedOutput(drv)) return fillFixed(drv, drvName, storeDir);
  const blank = blankOutputs(drv);
  const modulo = await hashDerivationModuloAsync(blank, true, readDrv, cache);
  return withOutputPaths(blank, outputPathsFromModulo(blank, drvName, modulo, storeDir));
}
