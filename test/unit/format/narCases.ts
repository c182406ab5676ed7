/** Builders for NAR token sequences, and the malformed NARs every reader must refuse. */
import { encodeNarTokens, NAR_MAGIC } from '../../../src/format/nar/index.js';

export type Token = string | Buffer;

export const regular = (contents: Token, executable = false): Token[] =>
  executable ? ['(', 'type', 'regular', 'executable', '', 'contents', contents, ')'] : ['(', 'type', 'regular', 'contents', contents, ')'];

export const symlink = (target: Token): Token[] => ['(', 'type', 'symlink', 'target', target, ')'];

export const directory = (...entries: [Token, Token[]][]): Token[] => [
  '(',
  'type',
  'directory',
  ...entries.flatMap(([name, node]) => ['entry', '(', 'name', name, 'node', ...node, ')']),
  ')',
];

/** A whole NAR from the tokens of its root node. */
export const nar = (root: Token[]): Buffer => encodeNarTokens([NAR_MAGIC, ...root]);

/** A u64 length field by itself (to forge lengths no real string could have). */
export function u64(value: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(value);
  return out;
}

/** The bytes of a NAR up to (not including) the first string with the given payload. */
export function before(bytes: Buffer, payload: string): Buffer {
  const marker = Buffer.concat([u64(BigInt(Buffer.byteLength(payload))), Buffer.from(payload)]);
  const at = bytes.indexOf(marker);
  if (at < 0) throw new Error(`no string ${payload} in the NAR`);
  return bytes.subarray(0, at);
}

export interface BadNar {
  what: string;
  bytes: Buffer;
  error: RegExp;
}

const file = regular('x');

function withNonZeroPadding(): Buffer {
  const good = nar(directory(['a', file]));
  const bad = Buffer.from(good);
  const name = good.indexOf(Buffer.concat([u64(1n), Buffer.from('a')]));
  bad[name + 8 + 1 + 3] = 1; // a padding byte after the name 'a'
  return bad;
}

/** A NAR whose byte at `from` + `delta` (a padding byte) is set to 1. */
function withPaddingByte(bytes: Buffer, from: number): Buffer {
  const bad = Buffer.from(bytes);
  bad[from] = 1;
  return bad;
}

function withLength(prefix: Token[], length: bigint): Buffer {
  return Buffer.concat([encodeNarTokens([NAR_MAGIC, ...prefix]), u64(length)]);
}

/** Every way the strict grammar (spec/nar.md section 2) can be broken, with the expected message. */
export const BAD_NARS: BadNar[] = [
  { what: 'bad magic', bytes: encodeNarTokens(['nix-archive-2', ...file]), error: /doesn't look like a Nix archive/ },
  { what: 'no magic at all', bytes: encodeNarTokens([...file]), error: /doesn't look like a Nix archive/ },
  { what: 'an unknown node type', bytes: nar(['(', 'type', 'fifo', ')']), error: /offset 56: unknown file type "fifo"/ },
  { what: 'a misplaced token', bytes: nar(['(', 'contents', 'x', ')']), error: /offset 40: expected "type", got "contents"/ },
  { what: 'an unknown key in a file', bytes: nar(['(', 'type', 'regular', 'size', '1', ')']), error: /expected "contents", got "size"/ },
  { what: 'a second type', bytes: nar(['(', 'type', 'regular', 'type', 'regular', 'contents', '', ')']), error: /got "type"/ },
  { what: '"executable" with a value', bytes: nar(['(', 'type', 'regular', 'executable', '1', 'contents', '', ')']), error: /"executable" must be followed by an empty string/ },
  { what: 'a missing closing parenthesis', bytes: nar(['(', 'type', 'regular', 'contents', '', 'contents', '']), error: /expected "\)", got "contents"/ },
  { what: 'entries out of order', bytes: nar(directory(['b', file], ['a', file])), error: /NAR directory is not sorted: "a" comes after "b"/ },
  { what: 'upper case after lower case', bytes: nar(directory(['a', file], ['B', file])), error: /not sorted: "B" comes after "a"/ },
  { what: 'a duplicate name', bytes: nar(directory(['a', file], ['a', file])), error: /duplicate entry name "a"/ },
  { what: 'an empty name', bytes: nar(directory(['', file])), error: /invalid file name "": it is empty/ },
  { what: 'the name "."', bytes: nar(directory(['.', file])), error: /invalid file name ".": it is '\.'/ },
  { what: 'the name ".."', bytes: nar(directory(['..', file])), error: /invalid file name "\.\.": it is '\.\.'/ },
  { what: 'a name with a slash', bytes: nar(directory(['a/b', file])), error: /invalid file name "a\/b": it contains '\/'/ },
  { what: 'a name with a NUL byte', bytes: nar(directory(['a\0b', file])), error: /invalid file name "a\\u0000b": it contains a NUL byte/ },
  { what: 'a name of 256 bytes', bytes: nar(directory(['n'.repeat(256), file])), error: /entry name of 256 bytes exceeds the limit of 255 bytes/ },
  { what: 'an empty symlink target', bytes: nar(symlink('')), error: /symlink target is empty/ },
  { what: 'a symlink target with a NUL byte', bytes: nar(symlink('a\0b')), error: /symlink target contains a NUL byte/ },
  { what: 'non-zero padding', bytes: withNonZeroPadding(), error: /offset \d+: non-zero padding after entry name/ },
  // magic 24 + "(" 16 + "type" 16 + "regular" 16 + "contents" 16 + size 8 + "abc" = 99: its padding.
  { what: 'non-zero padding after file contents', bytes: withPaddingByte(nar(regular('abc')), 101), error: /offset 99: non-zero padding after file contents/ },
  // magic 24 + length 8 + "(" = 33: the padding of the first "(".
  { what: 'non-zero padding after a keyword', bytes: withPaddingByte(nar(regular('abc')), 36), error: /offset 33: non-zero padding after "\("/ },
  {
    what: 'a wrong word in an entry header',
    bytes: encodeNarTokens([NAR_MAGIC, '(', 'type', 'directory', 'entry', '(', 'nome', 'a', 'node', ...file, ')', ')']),
    error: /offset 112: expected "name", got "nome"/,
  },
  {
    what: 'a long string where a keyword belongs',
    bytes: encodeNarTokens([NAR_MAGIC, '(', 'type', 'directory', 'entry', '(', 'n'.repeat(40), 'a', 'node', ...file, ')', ')']),
    error: /offset 112: expected "name", got a string of 40 bytes/,
  },
  {
    what: 'a name length of 2^62',
    bytes: withLength(['(', 'type', 'directory', 'entry', '(', 'name'], 1n << 62n),
    error: /entry name of 4611686018427387904 bytes exceeds the limit of 255 bytes/,
  },
  {
    what: 'a token length of 2^62',
    bytes: withLength(['(', 'type', 'directory'], 1n << 62n),
    error: /expected "entry" or "\)", got a string of 4611686018427387904 bytes/,
  },
  {
    what: 'a file size of 2^62',
    bytes: withLength(['(', 'type', 'regular', 'contents'], 1n << 62n),
    error: /file size 4611686018427387904 is too large/,
  },
  {
    what: 'a symlink target length of 2^62',
    bytes: withLength(['(', 'type', 'symlink', 'target'], 1n << 62n),
    error: /symlink target of 4611686018427387904 bytes exceeds the limit of 4095 bytes/,
  },
  { what: 'a file cut short', bytes: nar(regular('hello')).subarray(0, 100), error: /NAR is truncated at offset 100: the input ended while reading file contents/ },
  { what: 'a missing end', bytes: nar(directory(['a', file])).subarray(0, -16), error: /NAR is truncated at offset \d+: the input ended while reading "entry" or "\)"/ },
];
