/**
 * The NAR token encoder: every token is a u64 little-endian length, the bytes and zero
 * padding to a multiple of 8. The constant frames below are what a dumper writes around
 * names, targets and contents, precomputed so that a dump copies bytes instead of encoding.
 */
import { encodeString, encodeU64, padding } from '../wire.js';
import { NAR_MAGIC } from './constants.js';

export { padding as narPadding };

/** One NAR string: length, bytes, zero padding. */
export function encodeNarString(value: string | Uint8Array): Buffer {
  return encodeString(value);
}

/** A sequence of NAR strings; tests use it to build any NAR, valid or not. */
export function encodeNarTokens(tokens: readonly (string | Uint8Array)[]): Buffer {
  return Buffer.concat(tokens.map(encodeNarString));
}

/** The length field of a string whose payload is written separately (file contents). */
export function encodeNarLength(length: number): Buffer {
  return encodeU64(length);
}

export const ZERO_PADDING: Buffer = Buffer.alloc(8);

const frame = (...tokens: string[]): Buffer => encodeNarTokens(tokens);

/** Byte sequences a dumper emits verbatim. */
export const NAR_FRAMES = {
  magic: frame(NAR_MAGIC),
  /** `( type regular contents` then the contents string, then `)`. */
  regular: frame('(', 'type', 'regular', 'contents'),
  executable: frame('(', 'type', 'regular', 'executable', '', 'contents'),
  /** `( type symlink target` then the target string, then `)`. */
  symlink: frame('(', 'type', 'symlink', 'target'),
  directory: frame('(', 'type', 'directory'),
  /** `entry ( name` then the name string, then `node` and the node. */
  entry: frame('entry', '(', 'name'),
  node: frame('node'),
  close: frame(')'),
} as const;
