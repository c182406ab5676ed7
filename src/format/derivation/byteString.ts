/**
 * Lossless conversion between the bytes of a `.drv` file and JavaScript strings.
 *
 * A `.drv` file is bytes, and Nix puts any bytes a Nix string holds into it (a
 * `builtins.readFile` of a binary file ends up there verbatim). Almost always they are
 * UTF-8, and users want ordinary strings. So we decode UTF-8, and map each byte that is
 * not part of a well-formed UTF-8 sequence to the lone surrogate U+DC00+byte (Python's
 * "surrogateescape", PEP 383). Well-formed UTF-8 never decodes to a surrogate, so the
 * mapping is one-to-one and encoding reverses it exactly. Paths, names and keys are ASCII
 * in practice and come out as plain strings either way.
 */
import { isUtf8 } from 'node:buffer';
import { DerivationFormatError } from '../errors.js';

const ESCAPE_BASE = 0xdc00;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const LONE_SURROGATES = /[\uD800-\uDFFF]/gu;

/** Length of the well-formed UTF-8 sequence at `i` (Unicode Table 3-7), or 0 if there is none. */
function sequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i]!;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => {
    const b = bytes[i + k];
    return b !== undefined && b >= lo && b <= hi;
  };
  if (b0 < 0x80) return 1;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if (b0 === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (b0 >= 0xe1 && b0 <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (b0 === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b0 >= 0xf1 && b0 <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b0 === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

export function decodeBytes(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buf)) return buf.toString('utf8');
  const parts: string[] = [];
  let runStart = 0;
  let i = 0;
  while (i < buf.length) {
    const n = sequenceLength(buf, i);
    if (n > 0) {
      i += n;
      continue;
    }
    if (runStart < i) parts.push(buf.toString('utf8', runStart, i));
    parts.push(String.fromCharCode(ESCAPE_BASE + buf[i]!));
    i += 1;
    runStart = i;
  }
  if (runStart < buf.length) parts.push(buf.toString('utf8', runStart));
  return parts.join('');
}

/** Inverse of decodeBytes. A lone surrogate that does not stand for a byte has no byte form. */
export function encodeString(text: string): Buffer {
  if (!LONE_SURROGATE.test(text)) return Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of text.matchAll(LONE_SURROGATES)) {
    const unit = m[0].charCodeAt(0);
    if (unit < ESCAPE_BASE + 0x80 || unit > ESCAPE_BASE + 0xff) {
      throw new DerivationFormatError(
        `string contains the unpaired surrogate U+${unit.toString(16).toUpperCase()}, which has no byte form`,
      );
    }
    parts.push(Buffer.from(text.slice(last, m.index), 'utf8'), Buffer.of(unit - ESCAPE_BASE));
    last = m.index + 1;
  }
  parts.push(Buffer.from(text.slice(last), 'utf8'));
  return Buffer.concat(parts);
}

/**
 * Orders strings by their encoded bytes, as Nix's std::map<std::string> does. UTF-16 code
 * unit order agrees with byte order below U+D800; only past that do we compare encodings.
 */
export function compareByteOrder(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0xd800 && y < 0xd800) return x - y;
    return Buffer.compare(encodeString(a), encodeString(b));
  }
  return a.length - b.length;
}
