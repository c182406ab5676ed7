import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeNix32, encodeNix32 } from '../../../src/format/base32.js';
import { Hash, hashBytes, parseHashAlgo } from '../../../src/format/hash.js';
import { BadHashError } from '../../../src/format/errors.js';
import { fixture } from '../../support/fixtures.js';

interface HashVector {
  input: string;
  algo: string;
  base16: string;
  nix32: string;
  sri: string;
}

function loadVectors(): HashVector[] {
  const lines = readFileSync(fixture('hash/hashes.txt'), 'utf8').split('\n');
  return lines
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => {
      const [input, algo, base16, nix32, sri] = l.split(' | ').map((s) => s.trim());
      // The input column is a printf-style quoted string; only \n occurs in it.
      return { input: JSON.parse(input!), algo: algo!, base16: base16!, nix32: nix32!, sri: sri! };
    });
}

describe('hashes and nix32 (vectors/hash/hashes.txt)', () => {
  const vectors = loadVectors();
  it('has all 16 vectors', () => assert.equal(vectors.length, 16));
  for (const v of vectors) {
    it(`${v.algo} of ${JSON.stringify(v.input)} prints as Nix prints it`, () => {
      const h = hashBytes(parseHashAlgo(v.algo), v.input);
      assert.equal(h.toBase16(), v.base16);
      assert.equal(h.toNix32(), v.nix32);
      assert.equal(h.toSRI(), v.sri);
      assert.equal(encodeNix32(decodeNix32(v.nix32, h.digest.length)), v.nix32);
    });
    it(`${v.algo} of ${JSON.stringify(v.input)} parses from every form`, () => {
      const h = hashBytes(parseHashAlgo(v.algo), v.input);
      for (const text of [`${v.algo}:${v.base16}`, `${v.algo}:${v.nix32}`, v.sri, `${v.algo}:${h.toBase64()}`]) {
        assert.ok(Hash.parse(text).equals(h), text);
      }
      assert.ok(Hash.parse(v.nix32, h.algo).equals(h));
    });
  }
  it('rejects an unknown hash type with its name', () => {
    assert.throws(() => Hash.parse('sha3:abcd'), /unknown hash algorithm 'sha3'/);
  });
  it('rejects a digest of the wrong length', () => {
    assert.throws(() => Hash.parse('sha256:abcd'), BadHashError);
  });
  it('rejects nix32 with a forbidden letter', () => {
    assert.throws(() => decodeNix32('e'.repeat(52), 32), /bad character 'e'/);
  });
  it('rejects nix32 whose value needs more bits than the digest has', () => {
    assert.throws(() => decodeNix32('z' + '0'.repeat(51), 32), /out of range/);
  });
});
