/**
 * Hash rewriting: replaces store path hash parts in a byte stream by others of the same
 * length. This is how a build that cannot go to its real output path (a `--check` or
 * `--repair` without the sandbox, where the real path is taken) is made comparable: it is
 * built at a path that differs only in the hash part, and every occurrence of that hash part
 * in its output is then rewritten to the real one, as Nix did before it had sandboxes.
 *
 * Keys and values are both 32 nix32 characters, so lengths never change: a NAR stays
 * well-formed and offsets stay valid. Matches do not overlap; the leftmost wins, and a
 * replaced value is never matched again (rewriting is one pass, not repeated).
 */
import { NIX32_ALPHABET, isNix32 } from './base32.js';
import { BadHashError } from './errors.js';
import { HASH_PART_LENGTH } from './storePath.js';

export type HashRewrites = ReadonlyMap<string, string>;

const IS_NIX32 = new Uint8Array(256);
for (const c of NIX32_ALPHABET) IS_NIX32[c.charCodeAt(0)] = 1;

const EMPTY = Buffer.alloc(0);

function checkHashPart(hashPart: string, role: string): void {
  if (hashPart.length !== HASH_PART_LENGTH || !isNix32(hashPart)) {
    throw new BadHashError(`invalid ${role} '${hashPart}' in a hash rewrite: expected a store path hash part (${HASH_PART_LENGTH} nix32 characters)`);
  }
}

/**
 * The rewriting state of one stream: it holds back the last 31 bytes seen, the only ones
 * that may still begin a hash part continued by the next chunk.
 */
export class HashRewriter {
  private readonly replacements: Replacements = { byHashPart: new Map(), prefixes: new Set() };
  private tail: Buffer = EMPTY;

  constructor(rewrites: HashRewrites) {
    for (const [from, to] of rewrites) {
      checkHashPart(from, 'hash part');
      checkHashPart(to, 'replacement');
      if (from === to) continue;
      this.replacements.byHashPart.set(from, Buffer.from(to, 'latin1'));
      this.replacements.prefixes.add(Buffer.from(from, 'latin1').readUInt32LE(0));
    }
  }

  get isIdentity(): boolean {
    return this.replacements.byHashPart.size === 0;
  }

  /**
   * Rewrites `chunk` (after what was held back) and returns the bytes that are now final,
   * in one or two pieces. A piece without a replacement is a view of `chunk`, not a copy
   * (copying is most of the cost): it is valid as long as `chunk` is.
   */
  update(chunk: Uint8Array): Buffer[] {
    let input = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const pieces: Buffer[] = [];
    if (this.tail.length > 0) {
      // The bytes around the boundary, in a buffer of our own: a hash part that starts in
      // the held-back bytes ends within the next 31.
      const joint = Buffer.concat([this.tail, input.subarray(0, HASH_PART_LENGTH - 1)]);
      const done = this.rewriteCopy(joint);
      if (done > 0) pieces.push(joint.subarray(0, done));
      if (input.length < HASH_PART_LENGTH - 1) {
        this.tail = joint.subarray(done);
        return pieces;
      }
      input = input.subarray(done - this.tail.length);
    }
    const found: number[] = [];
    const done = findHashParts(input, this.replacements, found);
    let body = input.subarray(0, done);
    if (found.length > 0) {
      body = Buffer.from(body);
      this.apply(body, found);
    }
    if (body.length > 0) pieces.push(body);
    this.tail = Buffer.from(input.subarray(done));
    return pieces;
  }

  /** What was held back; the stream has ended, so it cannot hold a hash part any more. */
  finish(): Buffer {
    const rest = this.tail;
    this.tail = EMPTY;
    return rest;
  }

  /** Rewrites a buffer of our own in place; returns how many leading bytes are decided. */
  private rewriteCopy(data: Buffer): number {
    const found: number[] = [];
    const done = findHashParts(data, this.replacements, found);
    this.apply(data, found);
    return done;
  }

  private apply(data: Buffer, found: readonly number[]): void {
    for (const at of found) this.replacements.byHashPart.get(data.toString('latin1', at, at + HASH_PART_LENGTH))!.copy(data, at);
  }
}

/** The replacements, and the first four bytes of each key to rule out most windows cheaply. */
interface Replacements {
  byHashPart: Map<string, Buffer>;
  prefixes: Set<number>;
}

/**
 * Finds the hash parts to replace in `data` (their offsets go to `found`; they never
 * overlap) and returns how many leading bytes are decided: a hash part may still start in
 * the last 31 bytes. Windows are checked from their end backwards, as the reference scanner
 * does: a byte outside the nix32 alphabet rules out every window that contains it, so
 * binary data is mostly skipped; and in a long run of nix32 bytes each step checks only the
 * one new byte.
 */
function findHashParts(data: Buffer, replacements: Replacements, found: number[]): number {
  const end = data.length;
  let at = 0;
  /** Bytes from `at` up to here are known to be nix32. */
  let checkedTo = 0;
  while (at + HASH_PART_LENGTH <= end) {
    let back = HASH_PART_LENGTH - 1;
    const from = Math.max(checkedTo - at, 0);
    while (back >= from && IS_NIX32[data[at + back]!]) back--;
    if (back >= from) {
      at += back + 1;
      continue;
    }
    checkedTo = at + HASH_PART_LENGTH;
    if (replacements.prefixes.has(data.readUInt32LE(at)) && replacements.byHashPart.has(data.toString('latin1', at, at + HASH_PART_LENGTH))) {
      found.push(at);
      at += HASH_PART_LENGTH;
    } else {
      at++;
    }
  }
  return at;
}

/**
 * `source` with every hash part in `rewrites` replaced; bounded memory, any chunking. The
 * output may share memory with the input chunks (see HashRewriter.update).
 */
export async function* rewriteHashes(source: AsyncIterable<Uint8Array>, rewrites: HashRewrites): AsyncGenerator<Uint8Array> {
  const rewriter = new HashRewriter(rewrites);
  if (rewriter.isIdentity) {
    yield* source;
    return;
  }
  for await (const chunk of source) yield* rewriter.update(chunk);
  const rest = rewriter.finish();
  if (rest.length > 0) yield rest;
}

/** A rewritten copy of `data` (never `data` itself). */
export function rewriteHashesInBuffer(data: Uint8Array, rewrites: HashRewrites): Buffer {
  const rewriter = new HashRewriter(rewrites);
  return Buffer.concat([...rewriter.update(data), rewriter.finish()]);
}
