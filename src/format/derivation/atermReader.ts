/**
 * A cursor over the text of a `.drv` file. Every failure names the file and the byte
 * offset. Only the canonical form Nix writes is accepted: a file that would print back
 * differently would get a different hash from the one its path was made with.
 */
import { DerivationFormatError } from '../errors.js';
import { compareByteOrder } from './byteString.js';
import { unescapeString } from './escapes.js';

/** Bytes that stand for a raw byte in the decoded text take 1 byte on disk, not 3. */
const ESCAPED_BYTE = /[\uDC80-\uDCFF]/gu;
const BACKSLASH = 0x5c;

export class AtermReader {
  pos = 0;

  constructor(
    private readonly text: string,
    private readonly where: string,
  ) {}

  fail(problem: string, at = this.pos): never {
    throw new DerivationFormatError(
      `file '${this.where}' is not a valid derivation: ${problem} at offset ${this.byteOffset(at)}`,
    );
  }

  /** The file offset of a position in the decoded text. */
  byteOffset(at: number): number {
    const prefix = this.text.slice(0, at);
    return Buffer.byteLength(prefix, 'utf8') - 2 * (prefix.match(ESCAPED_BYTE)?.length ?? 0);
  }

  expect(literal: string): void {
    if (!this.text.startsWith(literal, this.pos)) {
      this.fail(this.pos >= this.text.length ? `expected '${literal}' but the file ends` : `expected '${literal}'`);
    }
    this.pos += literal.length;
  }

  expectEnd(): void {
    if (this.pos !== this.text.length) this.fail('expected the end of the file after the final \')\'');
  }

  /** Reads `[item,item,...]`, calling `item` with the cursor on each element. */
  list(item: () => void): void {
    this.expect('[');
    if (this.text[this.pos] === ']') {
      this.pos++;
      return;
    }
    for (;;) {
      item();
      const c = this.text[this.pos];
      this.pos++;
      if (c === ']') return;
      if (c !== ',') this.fail(c === undefined ? `expected ',' or ']' but the file ends` : `expected ',' or ']'`, this.pos - 1);
    }
  }

  /**
   * A string Nix writes without escaping (paths, output names, hashes, platform): it
   * cannot contain a backslash, since Nix would not have written one as `\\`.
   */
  plainString(what: string): string {
    const start = this.pos;
    const close = this.closingQuote(what);
    const content = this.text.slice(start + 1, close);
    const backslash = content.indexOf('\\');
    if (backslash >= 0) this.fail(`backslash in ${what}, which Nix writes unescaped`, start + 1 + backslash);
    this.pos = close + 1;
    return content;
  }

  /** A string with `\"`, `\\`, `\n`, `\r`, `\t` escapes (builder, args, env). */
  escapedString(what: string): string {
    const start = this.pos;
    const close = this.closingQuote(what);
    const content = this.text.slice(start + 1, close);
    const raw = /[\n\r\t]/.exec(content);
    if (raw) this.fail(`unescaped control character ${JSON.stringify(raw[0])} in ${what}`, start + 1 + raw.index);
    this.pos = close + 1;
    const decoded = unescapeString(content);
    if (typeof decoded === 'number') {
      this.fail(`non-canonical escape '\\${content[decoded + 1] ?? ''}' in ${what}`, start + 1 + decoded);
    }
    return decoded;
  }

  /**
   * Position of the quote closing the string that opens at the cursor: the next quote
   * not preceded by an odd run of backslashes. Each byte is looked at a bounded number
   * of times, so huge strings stay linear.
   */
  private closingQuote(what: string): number {
    const start = this.pos;
    if (this.text[start] !== '"') {
      this.fail(start >= this.text.length ? `expected '"' opening ${what} but the file ends` : `expected '"' opening ${what}`);
    }
    let from = start + 1;
    for (;;) {
      const quote = this.text.indexOf('"', from);
      if (quote < 0) {
        this.fail(`unterminated ${what} (opened at offset ${this.byteOffset(start)}): the file ends`, this.text.length);
      }
      let backslashes = 0;
      while (quote - backslashes - 1 > start && this.text.charCodeAt(quote - backslashes - 1) === BACKSLASH) backslashes++;
      if (backslashes % 2 === 0) return quote;
      from = quote + 1;
    }
  }
}

/** Checks that keys arrive strictly ascending in byte order, as Nix writes its maps and sets. */
export class SortedKeys {
  private last: string | undefined;
  constructor(
    private readonly reader: AtermReader,
    private readonly what: string,
  ) {}

  check(key: string, at: number): void {
    if (this.last !== undefined) {
      const order = compareByteOrder(this.last, key);
      if (order === 0) this.reader.fail(`duplicate ${this.what} '${key}'`, at);
      if (order > 0) this.reader.fail(`${this.what} '${key}' is out of order (Nix writes them sorted)`, at);
    }
    this.last = key;
  }
}
