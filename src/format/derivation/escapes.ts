/**
 * The escaping of builder, args and env strings in a `.drv` file: `"`, `\`, newline, CR
 * and tab get a backslash, every other byte is written raw. Done on bytes in one tight
 * loop because values can be megabytes of script with an escape on every line, where
 * string replacement with a callback spends its time in the garbage collector.
 */
import { decodeBytes, encodeString } from './byteString.js';

const BACKSLASH = 0x5c;
const QUOTE = 0x22;
const NEWLINE = 0x0a;
const CR = 0x0d;
const TAB = 0x09;
const NEEDS_ESCAPE = /["\\\n\r\t]/;

const SHORT = 256;
const ESCAPES: Readonly<Record<string, string>> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const UNESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', n: '\n', r: '\r', t: '\t' };

/** The escaped body (without the surrounding quotes). */
export function escapeString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  // Short strings (the usual env value) are cheaper to escape as strings.
  if (s.length < SHORT) return s.replace(/["\\\n\r\t]/g, (c) => ESCAPES[c]!);
  const bytes = encodeString(s);
  let extra = 0;
  for (const b of bytes) if (b === QUOTE || b === BACKSLASH || b === NEWLINE || b === CR || b === TAB) extra++;
  const out = Buffer.allocUnsafe(bytes.length + extra);
  let j = 0;
  for (const b of bytes) {
    if (b === NEWLINE) (out[j++] = BACKSLASH), (out[j++] = 0x6e);
    else if (b === CR) (out[j++] = BACKSLASH), (out[j++] = 0x72);
    else if (b === TAB) (out[j++] = BACKSLASH), (out[j++] = 0x74);
    else if (b === QUOTE || b === BACKSLASH) (out[j++] = BACKSLASH), (out[j++] = b);
    else out[j++] = b;
  }
  return decodeBytes(out);
}

/**
 * Decodes an escaped body. Returns the string, or the index (in `body`) of the first
 * escape Nix would not have written, since such a file would not print back the same.
 */
export function unescapeString(body: string): string | number {
  if (!body.includes('\\')) return body;
  if (body.length < SHORT) {
    let bad = -1;
    const decoded = body.replace(/\\([^]?)/g, (_escape, c: string, at: number) => {
      const out = UNESCAPES[c];
      if (out === undefined && bad < 0) bad = at;
      return out ?? c;
    });
    return bad >= 0 ? bad : decoded;
  }
  const bytes = encodeString(body);
  const out = Buffer.allocUnsafe(bytes.length);
  let j = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b !== BACKSLASH) {
      out[j++] = b;
      continue;
    }
    const c = bytes[++i];
    if (c === 0x6e) out[j++] = NEWLINE;
    else if (c === 0x72) out[j++] = CR;
    else if (c === 0x74) out[j++] = TAB;
    else if (c === QUOTE || c === BACKSLASH) out[j++] = c;
    else return charIndexOfByte(body, i - 1);
  }
  return decodeBytes(out.subarray(0, j));
}

function charIndexOfByte(body: string, byteIndex: number): number {
  return decodeBytes(encodeString(body).subarray(0, byteIndex)).length;
}
