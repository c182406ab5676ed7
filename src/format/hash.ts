/**
 * Hashes as Nix prints and parses them: base16, nix32, base64 and SRI, with or
 * without an `algo:` prefix. The encoding of an unprefixed digest is told by its length.
 */
import { createHash, type Hash as NodeHash } from 'node:crypto';
import { decodeNix32, encodeNix32, nix32Length } from './base32.js';
import { BadHashError } from './errors.js';

export type HashAlgo = 'md5' | 'sha1' | 'sha256' | 'sha512';
export type HashEncoding = 'base16' | 'nix32' | 'base64' | 'sri';

export const HASH_SIZES: Readonly<Record<HashAlgo, number>> = { md5: 16, sha1: 20, sha256: 32, sha512: 64 };

export function isHashAlgo(name: string): name is HashAlgo {
  return name === 'md5' || name === 'sha1' || name === 'sha256' || name === 'sha512';
}

export function parseHashAlgo(name: string): HashAlgo {
  if (!isHashAlgo(name)) throw new BadHashError(`unknown hash algorithm '${name}'`);
  return name;
}

export class Hash {
  constructor(
    readonly algo: HashAlgo,
    readonly digest: Buffer,
  ) {
    if (digest.length !== HASH_SIZES[algo]) {
      throw new BadHashError(`${algo} digest must be ${HASH_SIZES[algo]} bytes, got ${digest.length}`);
    }
  }

  toBase16(): string {
    return this.digest.toString('hex');
  }

  toNix32(): string {
    return encodeNix32(this.digest);
  }

  toBase64(): string {
    return this.digest.toString('base64');
  }

  toSRI(): string {
    return `${this.algo}-${this.toBase64()}`;
  }

  /** `algo:digest` in the given encoding (Nix's "typed" form); SRI ignores `prefixed`. */
  format(encoding: HashEncoding, prefixed = true): string {
    if (encoding === 'sri') return this.toSRI();
    const body = encoding === 'base16' ? this.toBase16() : encoding === 'nix32' ? this.toNix32() : this.toBase64();
    return prefixed ? `${this.algo}:${body}` : body;
  }

  equals(other: Hash): boolean {
    return this.algo === other.algo && this.digest.equals(other.digest);
  }

  /**
   * Parses any form Nix accepts: `algo:digest`, `algo-base64` (SRI) or a bare digest when
   * `algo` is known from context. The digest's encoding is decided by its length.
   */
  static parse(text: string, algo?: HashAlgo): Hash {
    let rest = text;
    let named: HashAlgo | undefined;
    const colon = text.indexOf(':');
    if (colon >= 0) {
      named = parseHashAlgo(text.slice(0, colon));
      rest = text.slice(colon + 1);
    } else {
      const dash = text.indexOf('-');
      if (dash >= 0) {
        const maybe = text.slice(0, dash);
        if (isHashAlgo(maybe)) {
          const digest = Buffer.from(text.slice(dash + 1), 'base64');
          if (digest.length !== HASH_SIZES[maybe] || digest.toString('base64') !== text.slice(dash + 1)) {
            throw new BadHashError(`invalid SRI hash '${text}'`);
          }
          if (algo && algo !== maybe) throw new BadHashError(`hash '${text}' should have type '${algo}'`);
          return new Hash(maybe, digest);
        }
      }
    }
    if (named && algo && named !== algo) throw new BadHashError(`hash '${text}' should have type '${algo}'`);
    const use = named ?? algo;
    if (!use) throw new BadHashError(`hash '${text}' does not include a type, nor is the type otherwise known from context`);
    return new Hash(use, decodeDigest(rest, use, text));
  }
}

function decodeDigest(body: string, algo: HashAlgo, whole: string): Buffer {
  const size = HASH_SIZES[algo];
  if (body.length === size * 2) {
    if (!/^[0-9a-fA-F]*$/.test(body)) throw new BadHashError(`invalid base-16 hash '${whole}'`);
    return Buffer.from(body, 'hex');
  }
  if (body.length === nix32Length(size)) return decodeNix32(body, size);
  if (body.length === Math.ceil(size / 3) * 4) {
    const digest = Buffer.from(body, 'base64');
    if (digest.length !== size || digest.toString('base64') !== body) throw new BadHashError(`invalid base-64 hash '${whole}'`);
    return digest;
  }
  throw new BadHashError(`hash '${whole}' has wrong length for hash type '${algo}'`);
}

/** Hash of an in-memory buffer or string. */
export function hashBytes(algo: HashAlgo, data: string | Uint8Array): Hash {
  return new Hash(algo, createHash(algo).update(data).digest());
}

export function sha256(data: string | Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/** An incremental hasher that also counts bytes, for NAR hash + NAR size in one pass. */
export class HashSink {
  private readonly hasher: NodeHash;
  size = 0;
  constructor(readonly algo: HashAlgo = 'sha256') {
    this.hasher = createHash(algo);
  }
  update(chunk: Uint8Array): void {
    this.hasher.update(chunk);
    this.size += chunk.length;
  }
  finish(): Hash {
    return new Hash(this.algo, this.hasher.digest());
  }
}

/** XOR-folds a digest to `size` bytes (Nix's compressHash), used for store path hash parts. */
export function foldHash(digest: Uint8Array, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < digest.length; i++) out[i % size]! ^= digest[i]!;
  return out;
}
