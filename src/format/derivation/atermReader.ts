/**
 * A cursor over the text of a `.drv` file. Every failure names the file and the byte
 * offset. Only the canonical form Nix writes is accepted: a file that would print back
 * differently would get a different hash from the one its path was made with.
 */
import { DerivationFormatError } from '../errors.js';
import { compareByteOrder } from './byteString.js';

/** Bytes that stand for a raw byte in the decoded text take 1 byte on disk, not 3. */
const ESCAPED_BYTE = /[\uDC80-\uDCFF]/gu;

export class AtermReader {
  pos = 0;
  private nextQuote = -1;
  private nextBackslash = -1;

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
    this.openQuote(what);
    const close = this.findQuote(what, start);
    const backslash = this.findBackslash();
    if (backslash >= 0 && backslash < close) {
      this.fail(`backslash in ${what}, which Nix writes unescaped`, backslash);
    }
    this.pos = close + 1;
    return this.text.slice(start + 1, close);
  }

  /** A string with `\"`, `\\`, `\n`, `\r`, `\t` escapes (builder, args, env). */
  escapedString(what: string): string {
    const start = this.pos;
    this.openQuote(what);
    const parts: string[] = [];
    for (;;) {
      const close = this.findQuote(what, start);
      const backslash = this.findBackslash();
      const end = backslash >= 0 && backslash < close ? backslash : close;
      const run = this.text.slice(this.pos, end);
      const raw = /[\n\r\t]/.exec(run);
      if (raw) this.fail(`unescaped control character ${JSON.stringify(raw[0])} in ${what}`, this.pos + raw.index);
      parts.push(run);
      if (end === close) {
        this.pos = close + 1;
        return parts.join('');
      }
      const c = this.text[backslash + 1];
      if (c === undefined) this.fail(`unterminated ${what} (opened at offset ${this.byteOffset(start)})`, backslash + 1);
      const decoded = c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c === '"' || c === '\\' ? c : undefined;
      if (decoded === undefined) this.fail(`non-canonical escape '\\${c}' in ${what}`, backslash);
      parts.push(decoded);
      this.pos = backslash + 2;
    }
  }

  private openQuote(what: string): void {
    if (this.text[this.pos] !== '"') {
      this.fail(this.pos >= this.text.length ? `expected '"' opening ${what} but the file ends` : `expected '"' opening ${what}`);
    }
    this.pos++;
  }

  // The next quote/backslash positions are remembered, so that a string with many escapes
  // is still scanned once (linear time on huge inputs).
  private findQuote(what: string, start: number): number {
    if (this.nextQuote < this.pos) this.nextQuote = this.text.indexOf('"', this.pos);
    if (this.nextQuote < 0) this.fail(`unterminated ${what} (opened at offset ${this.byteOffset(start)}): the file ends`, this.text.length);
    return this.nextQuote;
  }

  private findBackslash(): number {
    if (this.nextBackslash < this.pos && this.nextBackslash !== -2) {
      const found = this.text.indexOf('\\', this.pos);
      this.nextBackslash = found < 0 ? -2 : found;
    }
    return this.nextBackslash === -2 ? -1 : this.nextBackslash;
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
