import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { compareByteOrder, decodeBytes, encodeString, parseDerivation, printDerivation } from '../../../src/format/derivation/index.js';
import { DerivationFormatError } from '../../../src/format/errors.js';
import { fixture } from '../../support/fixtures.js';

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state >>> 16;
  };
}

describe('bytes of a .drv file as strings', () => {
  it('decodes and encodes any byte sequence back to the same bytes', () => {
    const next = random(1);
    for (let n = 0; n < 2000; n++) {
      const bytes = Buffer.from(Array.from({ length: next() % 40 }, () => next() % 256));
      assert.ok(encodeString(decodeBytes(bytes)).equals(bytes), bytes.toString('hex'));
    }
  });

  it('decodes UTF-8 to ordinary text and other bytes to lone surrogates', () => {
    assert.equal(decodeBytes(Buffer.from('unicode-é 😀', 'utf8')), 'unicode-é 😀');
    assert.equal(decodeBytes(Buffer.from([0x78, 0xff, 0xed, 0xa0, 0x80])), 'x\udcff\udced\udca0\udc80');
  });

  it('refuses to encode a lone surrogate that does not stand for a byte', () => {
    assert.throws(() => encodeString('a\ud800b'), /unpaired surrogate U\+D800/);
  });

  it('orders strings by their bytes, as Nix sorts maps', () => {
    const next = random(2);
    const alphabet = ['a', 'B', '\u00e9', '\uffff', '\u{10000}', '\udcff', '\u0000', '~'];
    const word = (): string => Array.from({ length: next() % 5 }, () => alphabet[next() % alphabet.length]).join('');
    for (let n = 0; n < 3000; n++) {
      const [a, b] = [word(), word()];
      assert.equal(Math.sign(compareByteOrder(a, b)), Math.sign(Buffer.compare(encodeString(a), encodeString(b))), `${a} vs ${b}`);
    }
  });
});

describe('parseDerivation accepts only what prints back identically', () => {
  it('for every one-byte change to every vector: a DerivationFormatError, or the same bytes back', function () {
    this.timeout(60_000);
    const replacements = [...'"\\,()[]a/\n'].map((c) => c.charCodeAt(0)).concat([0xff]);
    let accepted = 0;
    for (const file of readdirSync(fixture('drv')).filter((f) => f.endsWith('.drv'))) {
      const original = readFileSync(fixture(`drv/${file}`));
      for (let i = 0; i < original.length; i++) {
        for (const byte of replacements) {
          if (original[i] === byte) continue;
          const mutated = Buffer.from(original);
          mutated[i] = byte;
          let printed: Buffer;
          try {
            printed = printDerivation(parseDerivation(mutated, file));
          } catch (e) {
            if (e instanceof DerivationFormatError) continue;
            throw e;
          }
          accepted++;
          assert.ok(printed.equals(mutated), `${file} with byte ${i} set to ${byte} parsed but printed differently`);
        }
      }
    }
    assert.ok(accepted > 0);
  });
});
