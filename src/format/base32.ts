/**
 * Nix's base-32 ("nix32"). Not RFC 4648: the digest is read as one little-endian
 * integer and printed most significant 5-bit digit first, with an alphabet that
 * leaves out e, o, u and t so that hashes never spell words.
 */
import { BadHashError } from './errors.js';

export const NIX32_ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz';

const digitValue = new Int8Array(128).fill(-1);
for (let i = 0; i < NIX32_ALPHABET.length; i++) digitValue[NIX32_ALPHABET.charCodeAt(i)] = i;

/** Number of nix32 characters for a digest of `size` bytes. */
export function nix32Length(size: number): number {
  return Math.ceil((size * 8) / 5);
}

export function encodeNix32(bytes: Uint8Array): string {
  const n = bytes.length;
  const len = nix32Length(n);
  let out = '';
  for (let k = len - 1; k >= 0; k--) {
    const b = k * 5;
    const i = b >>> 3;
    const j = b & 7;
    let v = bytes[i]! >>> j;
    if (i + 1 < n) v |= bytes[i + 1]! << (8 - j);
    out += NIX32_ALPHABET[v & 31];
  }
  return out;
}

/** Decodes `text` into a digest of `size` bytes; throws BadHashError on any bad digit or excess bits. */
export function decodeNix32(text: string, size: number): Buffer {
  if (text.length !== nix32Length(size)) {
    throw new BadHashError(`invalid base-32 hash '${text}': expected ${nix32Length(size)} characters`);
  }
  const out = Buffer.alloc(size);
  const len = text.length;
  for (let idx = 0; idx < len; idx++) {
    const code = text.charCodeAt(idx);
    const d = code < 128 ? digitValue[code]! : -1;
    if (d < 0) throw new BadHashError(`invalid base-32 hash '${text}': bad character '${text[idx]}'`);
    const b = (len - 1 - idx) * 5;
    const i = b >>> 3;
    const j = b & 7;
    out[i]! |= (d << j) & 0xff;
    const carry = d >>> (8 - j);
    if (i + 1 < size) out[i + 1]! |= carry;
    else if (carry !== 0) throw new BadHashError(`invalid base-32 hash '${text}': value out of range`);
  }
  return out;
}

/** True if every character is a nix32 digit (used for store path hash parts). */
export function isNix32(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 128 || digitValue[code]! < 0) return false;
  }
  return true;
}
