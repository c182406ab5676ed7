/**
 * hashDerivationModulo: the hash of a derivation with each input derivation replaced by
 * that input's own modulo hash, and fixed-output derivations reduced to their output's
 * hash and path, so that how a fixed output is fetched never changes anything downstream.
 *
 * Graphs are deep (chains of hundreds of derivations), so the walk is an explicit stack,
 * not recursion, and every input's hash is memoised by drv path in `cache`.
 */
import { DerivationFormatError } from '../errors.js';
import { Hash, sha256 } from '../hash.js';
import type { Derivation } from './derivation.js';
import { isFixedOutput } from './outputKind.js';
import { encodeString } from './byteString.js';
import { printDerivation } from './printDerivation.js';

export type DrvReader = (drvPath: string) => Derivation;
export type AsyncDrvReader = (drvPath: string) => Promise<Derivation>;
/** drv path -> its unmasked modulo hash (what dependents put in place of the path). */
export type ModuloCache = Map<string, Hash>;

/**
 * Nix recomputes the path from the hash and the name here rather than reading it; for a
 * derivation that passed checkDerivationOutputs the two are the same.
 */
function fixedOutputText(drv: Derivation): Buffer {
  const o = drv.outputs.get('out')!;
  return encodeString(`fixed:out:${o.hashAlgo}:${o.hash}:${o.path}`);
}

function textWithKnownInputs(drv: Derivation, maskOutputs: boolean, cache: ModuloCache): Buffer {
  // Two inputs with the same hash (e.g. two fetchers of the same fixed output) merge
  // into one entry with the union of their output names.
  const inputs = new Map<string, Set<string>>();
  for (const [path, names] of drv.inputDrvs) {
    const hex = cache.get(path)!.toBase16();
    const merged = inputs.get(hex) ?? new Set<string>();
    for (const name of names) merged.add(name);
    inputs.set(hex, merged);
  }
  return printDerivation(drv, { maskOutputs, inputDrvs: inputs });
}

function sha256Of(text: Buffer): Hash {
  return new Hash('sha256', sha256(text));
}

interface Frame {
  path: string | undefined;
  drv: Derivation;
  inputs: string[];
  next: number;
}

/**
 * The walk, written once for both readers: it yields each drv path it needs and is
 * resumed with that derivation.
 */
function* moduloWalk(drv: Derivation, maskOutputs: boolean, cache: ModuloCache): Generator<string, Buffer, Derivation> {
  if (isFixedOutput(drv)) return fixedOutputText(drv);
  const onStack = new Set<string>();
  const stack: Frame[] = [{ path: undefined, drv, inputs: [...drv.inputDrvs.keys()], next: 0 }];
  for (;;) {
    const frame = stack[stack.length - 1]!;
    if (frame.next < frame.inputs.length) {
      const path = frame.inputs[frame.next++]!;
      if (cache.has(path)) continue;
      if (onStack.has(path)) throw new DerivationFormatError(`derivation '${path}' depends on itself`);
      const input = yield path;
      if (isFixedOutput(input)) {
        cache.set(path, sha256Of(fixedOutputText(input)));
        continue;
      }
      onStack.add(path);
      stack.push({ path, drv: input, inputs: [...input.inputDrvs.keys()], next: 0 });
      continue;
    }
    stack.pop();
    if (frame.path === undefined) return textWithKnownInputs(frame.drv, maskOutputs, cache);
    cache.set(frame.path, sha256Of(textWithKnownInputs(frame.drv, false, cache)));
    onStack.delete(frame.path);
  }
}

/**
 * The sha256 modulo hash of `drv`. `maskOutputs` blanks its own output paths (the form
 * its output paths are computed from); inputs always use their unmasked hash. `readDrv`
 * loads an input by drv path; pass the same `cache` across calls to share work.
 */
export function hashDerivationModulo(
  drv: Derivation,
  maskOutputs: boolean,
  readDrv: DrvReader,
  cache: ModuloCache = new Map(),
): Hash {
  return sha256Of(derivationModuloText(drv, maskOutputs, readDrv, cache));
}

/**
 * The exact bytes hashDerivationModulo hashes: the ATerm with input derivations replaced
 * by their hashes (and outputs blanked when masked), or for a fixed-output derivation
 * `fixed:out:<hashAlgo>:<hash>:<path>`.
 */
export function derivationModuloText(
  drv: Derivation,
  maskOutputs: boolean,
  readDrv: DrvReader,
  cache: ModuloCache = new Map(),
): Buffer {
  const walk = moduloWalk(drv, maskOutputs, cache);
  let step = walk.next();
  while (!step.done) step = walk.next(readDrv(step.value));
  return step.value;
}

/** The same, with a reader that returns promises (e.g. reading `.drv` files from disk). */
export async function hashDerivationModuloAsync(
  drv: Derivation,
  maskOutputs: boolean,
  readDrv: AsyncDrvReader,
  cache: ModuloCache = new Map(),
): Promise<Hash> {
  const walk = moduloWalk(drv, maskOutputs, cache);
  let step = walk.next();
  while (!step.done) step = walk.next(await readDrv(step.value));
  return sha256Of(step.value);
}

/**
 * Nix's "static output hashes": per output, the hash its DrvOutput id (`sha256:<hex>!<name>`)
 * is made of. The masked modulo hash for every output of an input-addressed derivation;
 * for a fixed output, the hash of its `fixed:out:…` text.
 */
export function staticOutputHashes(drv: Derivation, readDrv: DrvReader, cache: ModuloCache = new Map()): Map<string, Hash> {
  const hashes = new Map<string, Hash>();
  if (isFixedOutput(drv)) {
    hashes.set('out', sha256Of(fixedOutputText(drv)));
    return hashes;
  }
  const modulo = hashDerivationModulo(drv, true, readDrv, cache);
  for (const name of drv.outputs.keys()) hashes.set(name, modulo);
  return hashes;
}
