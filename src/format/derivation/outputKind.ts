/**
 * What kind of output a tuple (path, hashAlgo, hash) describes, and what kind of
 * derivation a set of outputs makes. Stable Nix uses input-addressed and fixed-output;
 * the other kinds come from experimental features and are recognised but not computed.
 */
import { DerivationFormatError } from '../errors.js';
import { Hash, HASH_SIZES, isHashAlgo, type HashAlgo } from '../hash.js';
import type { FileIngestionMethod } from '../storePath.js';
import type { Derivation, DerivationOutput } from './derivation.js';

export type OutputKind = 'inputAddressed' | 'fixed' | 'floating' | 'deferred' | 'impure';

const RECURSIVE_PREFIX = 'r:';

/** Splits `r:sha256` into its method and algorithm; undefined when `hashAlgo` is not one. */
export function parseOutputHashAlgo(hashAlgo: string): { method: FileIngestionMethod; algo: HashAlgo } | undefined {
  const recursive = hashAlgo.startsWith(RECURSIVE_PREFIX);
  const algo = recursive ? hashAlgo.slice(RECURSIVE_PREFIX.length) : hashAlgo;
  return isHashAlgo(algo) ? { method: recursive ? 'recursive' : 'flat', algo } : undefined;
}

/** Why a tuple is not a valid output of any kind, or undefined when it is one. */
export function outputProblem(o: DerivationOutput): string | undefined {
  if (o.path !== '' && !o.path.startsWith('/')) return `output path '${o.path}' does not start with '/'`;
  if (o.hashAlgo === '') {
    return o.hash === '' ? undefined : `output hash '${o.hash}' is given without a hash algorithm`;
  }
  const parsed = parseOutputHashAlgo(o.hashAlgo);
  if (!parsed) return `unknown output hash algorithm '${o.hashAlgo}'`;
  if (o.hash === '' || o.hash === 'impure') {
    const kind = o.hash === '' ? 'floating content-addressed' : 'impure';
    return o.path === '' ? undefined : `${kind} output must have an empty path, not '${o.path}'`;
  }
  // The file always holds lower-case base16; anything else would not print back the same.
  const digits = HASH_SIZES[parsed.algo] * 2;
  if (o.hash.length !== digits || !/^[0-9a-f]*$/.test(o.hash)) {
    return `output hash '${o.hash}' is not a lower-case base-16 ${parsed.algo} digest (${digits} digits)`;
  }
  if (o.path === '') return `fixed output with hash '${o.hash}' has an empty path`;
  return undefined;
}

/** Classifies one output tuple; throws DerivationFormatError for an invalid one. */
export function outputKind(o: DerivationOutput): OutputKind {
  const problem = outputProblem(o);
  if (problem) throw new DerivationFormatError(problem);
  if (o.hashAlgo === '') return o.path === '' ? 'deferred' : 'inputAddressed';
  if (o.hash === '') return 'floating';
  if (o.hash === 'impure') return 'impure';
  return 'fixed';
}

/**
 * The kind shared by all outputs. Nix refuses a derivation without outputs, one that mixes
 * kinds, and more than one fixed output or a fixed output not named `out`.
 */
export function derivationKind(drv: Derivation): OutputKind {
  let kind: OutputKind | undefined;
  for (const o of drv.outputs.values()) {
    const k = outputKind(o);
    if (kind !== undefined && k !== kind) throw new DerivationFormatError(`can't mix derivation output types`);
    kind = k;
  }
  if (kind === undefined) throw new DerivationFormatError('must have at least one output');
  if (kind === 'fixed') {
    if (drv.outputs.size > 1) throw new DerivationFormatError('only one fixed output is allowed for now');
    if (!drv.outputs.has('out')) throw new DerivationFormatError(`single fixed output must be named "out"`);
  }
  return kind;
}

/** Exactly one output, named `out`, with a hash algorithm and a digest. */
export function isFixedOutput(drv: Derivation): boolean {
  if (drv.outputs.size !== 1) return false;
  const out = drv.outputs.get('out');
  return out !== undefined && out.hashAlgo !== '' && out.hash !== '' && out.hash !== 'impure';
}

/**
 * The method and hash of a fixed output, e.g. for makeFixedOutputPath. Only the hash
 * columns are looked at, so this also works before the path is filled in.
 */
export function fixedOutputHash(o: DerivationOutput): { method: FileIngestionMethod; hash: Hash } {
  const parsed = parseOutputHashAlgo(o.hashAlgo);
  if (!parsed) throw new DerivationFormatError(`unknown output hash algorithm '${o.hashAlgo}'`);
  if (o.hash.length !== HASH_SIZES[parsed.algo] * 2 || !/^[0-9a-f]*$/.test(o.hash)) {
    throw new DerivationFormatError(`output hash '${o.hash}' is not a lower-case base-16 ${parsed.algo} digest`);
  }
  return { method: parsed.method, hash: new Hash(parsed.algo, Buffer.from(o.hash, 'hex')) };
}
