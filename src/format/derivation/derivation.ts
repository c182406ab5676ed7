/**
 * The in-memory form of a derivation (a `.drv` file). Field names follow Nix; maps are
 * JavaScript Maps whose insertion order does not matter, since the printer sorts every
 * map and set byte-wise the way Nix writes them.
 *
 * Strings are JavaScript strings decoded from the file's UTF-8; bytes that are not valid
 * UTF-8 survive as lone surrogates (see byteString.ts), so parsing and printing is lossless.
 */
import { DerivationFormatError } from '../errors.js';

/** One output tuple exactly as in the file; see outputKind.ts for what the columns mean. */
export interface DerivationOutput {
  /** The output store path, or `""` for floating/deferred/impure outputs. */
  path: string;
  /** `""`, `<algo>` (flat) or `r:<algo>` (recursive). */
  hashAlgo: string;
  /** `""`, a base16 digest, or `impure`. */
  hash: string;
}

export interface Derivation {
  outputs: Map<string, DerivationOutput>;
  /** drv path -> names of the outputs used from it. */
  inputDrvs: Map<string, string[]>;
  inputSrcs: string[];
  /** `system` in Nix expressions and in the JSON form. */
  platform: string;
  builder: string;
  args: string[];
  env: Map<string, string>;
}

const DRV_EXTENSION = '.drv';

/** `/nix/store/<hash>-hello.drv` -> `hello`: the name is not stored inside the file. */
export function drvNameFromPath(drvPath: string): string {
  const baseName = drvPath.slice(drvPath.lastIndexOf('/') + 1);
  const dash = baseName.indexOf('-');
  if (dash < 0 || !baseName.endsWith(DRV_EXTENSION) || baseName.length - DRV_EXTENSION.length <= dash + 1) {
    throw new DerivationFormatError(`path '${drvPath}' is not a derivation path (expected <hash>-<name>.drv)`);
  }
  return baseName.slice(dash + 1, baseName.length - DRV_EXTENSION.length);
}

/** A deep copy, so a caller can fill in or change a derivation without touching the original. */
export function cloneDerivation(drv: Derivation): Derivation {
  return {
    outputs: new Map([...drv.outputs].map(([name, o]) => [name, { ...o }])),
    inputDrvs: new Map([...drv.inputDrvs].map(([path, names]) => [path, [...names]])),
    inputSrcs: [...drv.inputSrcs],
    platform: drv.platform,
    builder: drv.builder,
    args: [...drv.args],
    env: new Map(drv.env),
  };
}
