/**
 * Prints a derivation as the ATerm text Nix writes, byte for byte: one line, no trailing
 * newline, every map and set sorted byte-wise whatever order the caller built it in.
 */
import { DerivationFormatError } from '../errors.js';
import { compareByteOrder, encodeString } from './byteString.js';
import type { Derivation } from './derivation.js';
import { escapeString } from './escapes.js';

export interface PrintOptions {
  /**
   * Print every output path, and the env var of every output name, as `""`: the form
   * whose hash gives the derivation's own output paths (hashDerivationModulo).
   */
  maskOutputs?: boolean;
  /** Print these in place of `drv.inputDrvs` (hashDerivationModulo puts hashes there). */
  inputDrvs?: ReadonlyMap<string, Iterable<string>>;
}

function escaped(s: string): string {
  return '"' + escapeString(s) + '"';
}

/** Paths, names, hashes and the platform are written without escaping, so cannot hold `"` or `\`. */
function plain(s: string, what: string): string {
  if (/["\\]/.test(s)) throw new DerivationFormatError(`${what} '${s}' contains '"' or '\\', which a .drv file cannot hold there`);
  return '"' + s + '"';
}

function sortedUnique(items: Iterable<string>): string[] {
  const sorted = [...new Set(items)];
  return sorted.sort(compareByteOrder);
}

function sortedEntries<V>(map: ReadonlyMap<string, V>): [string, V][] {
  return [...map].sort((a, b) => compareByteOrder(a[0], b[0]));
}

/** The exact bytes of the `.drv` file (or, with options, of the text hashDerivationModulo hashes). */
export function printDerivation(drv: Derivation, opts: PrintOptions = {}): Buffer {
  const mask = opts.maskOutputs === true;
  const outputs = sortedEntries(drv.outputs).map(
    ([name, o]) =>
      `(${plain(name, 'output name')},${mask ? '""' : plain(o.path, 'output path')},` +
      `${plain(o.hashAlgo, 'output hash algorithm')},${plain(o.hash, 'output hash')})`,
  );
  const inputDrvs = sortedEntries(opts.inputDrvs ?? drv.inputDrvs).map(
    ([path, names]) =>
      `(${plain(path, 'input derivation')},[${sortedUnique(names).map((n) => plain(n, 'output name')).join(',')}])`,
  );
  const inputSrcs = sortedUnique(drv.inputSrcs).map((p) => plain(p, 'input source'));
  const env = sortedEntries(drv.env).map(
    ([key, value]) => `(${escaped(key)},${mask && drv.outputs.has(key) ? '""' : escaped(value)})`,
  );
  const text =
    `Derive([${outputs.join(',')}],[${inputDrvs.join(',')}],[${inputSrcs.join(',')}],` +
    `${plain(drv.platform, 'platform')},${escaped(drv.builder)},[${drv.args.map(escaped).join(',')}],[${env.join(',')}])`;
  return encodeString(text);
}
