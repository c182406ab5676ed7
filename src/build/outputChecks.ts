/**
 * What a derivation demands of its outputs: `allowedReferences`, `allowedRequisites`,
 * `disallowedReferences`, `disallowedRequisites` (each a list of store paths or names of
 * this derivation's outputs), and for fixed-output derivations the promised hash.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { Hash, parseHashAlgo, type HashAlgo } from '../format/hash.js';
import { isStorePath } from '../format/storePath.js';
import { dumpPath } from '../store/nar/dumpPath.js';
import { BuildError } from './errors.js';

const CHECKS = [
  ['allowedReferences', 'references', true],
  ['allowedRequisites', 'requisites', true],
  ['disallowedReferences', 'references', false],
  ['disallowedRequisites', 'requisites', false],
] as const;

/** An output name of this derivation stands for its path; anything else must be a store path (Nix refuses the rest). */
function referenceSpecifier(word: string, outputs: ReadonlyMap<string, string>, storeDir: string): string {
  const output = outputs.get(word);
  if (output !== undefined) return output;
  if (!isStorePath(word, storeDir)) throw new BuildError(`derivation contains an illegal reference specifier '${word}'`, 'build');
  return word;
}

/**
 * Throws nix's "output … is not allowed to refer to the following paths" when one of the four
 * lists is broken. `requisitesOf` gives an output's closure, itself included.
 */
export function checkReferenceRules(
  storeDir: string,
  env: ReadonlyMap<string, string>,
  outputs: ReadonlyMap<string, string>,
  outputPath: string,
  references: readonly string[],
  requisitesOf: () => Iterable<string>,
): void {
  for (const [attr, over, allow] of CHECKS) {
    const value = env.get(attr);
    if (value === undefined) continue;
    const listed = new Set(value.split(/\s+/).filter((w) => w !== '').map((w) => referenceSpecifier(w, outputs, storeDir)));
    // As Nix without structured attributes: the output itself counts when it refers to itself,
    // and a closure always contains it.
    const used = new Set(over === 'references' ? references : requisitesOf());
    const offending = [...used].filter((p) => listed.has(p) !== allow).sort();
    if (offending.length > 0) {
      throw new BuildError(`output '${outputPath}' is not allowed to refer to the following paths:${offending.map((p) => `\n  ${p}`).join('')}`, 'build');
    }
  }
}

export interface FixedOutput {
  method: 'flat' | 'recursive';
  algo: HashAlgo;
  expected: Hash;
}

/** The fixed-output promise of one output tuple, or undefined for an input-addressed output. */
export function fixedOutputOf(hashAlgo: string, hash: string): FixedOutput | undefined {
  if (hashAlgo === '' || hash === '') return undefined;
  const recursive = hashAlgo.startsWith('r:');
  const algo = parseHashAlgo(recursive ? hashAlgo.slice(2) : hashAlgo);
  return { method: recursive ? 'recursive' : 'flat', algo, expected: Hash.parse(hash, algo) };
}

async function hashFlatFile(realPath: string, shownPath: string, algo: HashAlgo): Promise<Hash> {
  const stat = lstatSync(realPath);
  if (!stat.isFile() || (stat.mode & 0o100) !== 0) {
    throw new BuildError(`output path '${shownPath}' should be a non-executable regular file since recursive hashing is not enabled (outputHashMode=flat)`, 'build');
  }
  const fd = openSync(realPath, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    if (fstatSync(fd).ino !== stat.ino) throw new BuildError(`output path '${shownPath}' changed while it was being hashed`, 'build');
    const hasher = createHash(algo);
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) hasher.update(buffer.subarray(0, n));
    return new Hash(algo, hasher.digest());
  } finally {
    closeSync(fd);
  }
}

/** The hash of the output as its fixed-output method computes it (`narHash` is its sha256 NAR hash). */
export async function actualFixedHash(fixed: FixedOutput, realPath: string, shownPath: string, narHash: Hash): Promise<Hash> {
  if (fixed.method === 'flat') return hashFlatFile(realPath, shownPath, fixed.algo);
  if (fixed.algo === 'sha256') return narHash;
  const hasher = createHash(fixed.algo);
  for await (const chunk of dumpPath(realPath, { reuseChunks: true })) hasher.update(chunk);
  return new Hash(fixed.algo, hasher.digest());
}

export function hashMismatchError(drvPath: string, expected: Hash, got: Hash): BuildError {
  return new BuildError(
    `hash mismatch in fixed-output derivation '${drvPath}':\n         specified: ${expected.format('sri')}\n            got:    ${got.format('sri')}`,
    'hashMismatch',
  );
}
