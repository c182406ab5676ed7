/**
 * Registering a `.drv` path means reading it as a derivation, as Nix does: a file that
 * does not parse, or whose output paths are not the ones its contents give, is refused
 * (so `--add` of a malformed `x.drv` fails and leaves it invalid), and the outputs of one
 * that does are recorded in `DerivationOutputs`.
 */
import { readFileSync } from 'node:fs';
import { checkDerivationOutputs, parseDerivation, type Derivation, type ModuloCache } from '../format/derivation/index.js';
import { FormatError } from '../format/errors.js';
import { isDerivationPath } from '../format/storePath.js';
import { RegistrationError } from './dbErrors.js';
import type { StoreLayout } from './layout.js';
import type { DerivationOutputMap } from './registerPaths.js';

/** The outputs of every `.drv` among `paths`, whose files must be in place already. */
export function derivationOutputsOf(layout: StoreLayout, paths: Iterable<string>): DerivationOutputMap {
  const outputs = new Map<string, Map<string, string>>();
  const parsed = new Map<string, Derivation>();
  const cache: ModuloCache = new Map();
  const readDrv = (drvPath: string): Derivation => {
    let drv = parsed.get(drvPath);
    if (drv === undefined) {
      drv = parseDerivation(readFileSync(layout.toReal(drvPath)), drvPath);
      parsed.set(drvPath, drv);
    }
    return drv;
  };
  for (const path of paths) {
    if (!isDerivationPath(path)) continue;
    try {
      const drv = readDrv(path);
      checkDerivationOutputs(drv, path, readDrv, layout.storeDir, cache);
      outputs.set(path, new Map([...drv.outputs].filter(([, o]) => o.path !== '').map(([name, o]) => [name, o.path])));
    } catch (e) {
      if (e instanceof FormatError) throw new RegistrationError(`error parsing derivation '${path}': ${e.message}`);
      throw e;
    }
  }
  return outputs;
}
