/**
 * The fixed-output part of the derivation API: `outputHash`, `outputHashAlgo` and
 * `outputHashMode` read as Nix reads them. The environment keeps the hash as the user wrote
 * it; the output tuple always holds base 16.
 */
import type { DerivationOutput } from '../format/derivation/index.js';
import { Hash, parseHashAlgo } from '../format/hash.js';

export class DerivationSpecError extends Error {
  override name = 'DerivationSpecError';
}

export interface FixedOutputSpec {
  name: string;
  /** Any form Nix accepts: base 16, nix32 or base 64 (with outputHashAlgo), or SRI. */
  outputHash?: string;
  /** `sha256`, `sha1`, `sha512` or `md5`; may be left out when outputHash is SRI or `algo:…`. */
  outputHashAlgo?: string;
  /** `flat` (default: the output is one file, its bytes hashed) or `recursive` (its NAR). */
  outputHashMode?: 'flat' | 'recursive';
}

/**
 * Puts the given attributes in `env` and, when `outputHash` is given, returns the output
 * tuple of `out` (with an empty path, filled in later).
 */
export function fixedOutput(spec: FixedOutputSpec, outputNames: readonly string[], env: Map<string, string>): DerivationOutput | undefined {
  if (spec.outputHash !== undefined) env.set('outputHash', spec.outputHash);
  if (spec.outputHashAlgo !== undefined) env.set('outputHashAlgo', spec.outputHashAlgo);
  if (spec.outputHashMode !== undefined) env.set('outputHashMode', spec.outputHashMode);
  if (spec.outputHash === undefined) return undefined;
  if (outputNames.length !== 1 || outputNames[0] !== 'out') {
    throw new DerivationSpecError(`derivation '${spec.name}': multiple outputs are not supported in fixed-output derivations`);
  }
  const mode = spec.outputHashMode ?? 'flat';
  if (mode !== 'flat' && mode !== 'recursive') {
    throw new DerivationSpecError(`derivation '${spec.name}': invalid value '${String(mode)}' for 'outputHashMode' attribute`);
  }
  // An empty algorithm means "from the hash itself", as in Nix.
  const algo = spec.outputHashAlgo ? parseHashAlgo(spec.outputHashAlgo) : undefined;
  const hash = Hash.parse(spec.outputHash, algo);
  return { path: '', hashAlgo: `${mode === 'recursive' ? 'r:' : ''}${hash.algo}`, hash: hash.toBase16() };
}
