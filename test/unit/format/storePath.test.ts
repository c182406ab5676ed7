import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Hash, hashBytes } from '../../../src/format/hash.js';
import {
  checkStorePathName,
  makeFixedOutputPath,
  makeOutputPath,
  makeStorePath,
  makeTextPath,
  parseStorePath,
  toStorePath,
} from '../../../src/format/storePath.js';
import { contentAddressPath, parseContentAddress, renderContentAddress } from '../../../src/format/contentAddress.js';
import { InvalidPathError } from '../../../src/format/errors.js';
import { fixture } from '../../support/fixtures.js';

/** Each block of store-paths.txt: its fingerprint (last one wins) and the path real nix printed. */
function blocks(): { fingerprint: string; expected: string }[] {
  const text = readFileSync(fixture('hash/store-paths.txt'), 'utf8');
  const out: { fingerprint: string; expected: string }[] = [];
  let fingerprint = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('fingerprint: ')) fingerprint = line.slice('fingerprint: '.length);
    const m = /^real nix says: (\S+)\s+MATCH$/.exec(line);
    if (m) out.push({ fingerprint, expected: m[1]! });
  }
  return out;
}

describe('store paths (vectors/hash/store-paths.txt)', () => {
  const cases = blocks();
  it('finds the 8 worked examples', () => assert.equal(cases.length, 8));
  for (const { fingerprint, expected } of cases) {
    it(`computes ${expected} from its fingerprint`, () => {
      const m = /^(.*):sha256:([0-9a-f]{64}):(\/nix\/store):(.*)$/.exec(fingerprint);
      assert.ok(m, fingerprint);
      assert.equal(makeStorePath(m[1]!, Hash.parse(m[2]!, 'sha256'), m[4]!, m[3]), expected);
    });
  }

  it('text paths with and without references match builtins.toFile', () => {
    const a = makeTextPath('a.txt', hashBytes('sha256', 'A\n'), []);
    assert.equal(a, '/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt');
    const b = makeTextPath('b.txt', hashBytes('sha256', `b refers to ${a}\n`), [a]);
    assert.equal(b, '/nix/store/wm1yl0adpghzq2zqm62z1i3v1c3hslgv-b.txt');
  });

  it('fixed-output paths match nix-store --print-fixed-path', () => {
    const hello = hashBytes('sha256', 'hello\n');
    assert.equal(makeFixedOutputPath('flat', hello, 'fixed-flat'), '/nix/store/wwklwj0a26pz90f6l7adic854r8mff8v-fixed-flat');
    const sha1 = hashBytes('sha1', 'hello\n');
    assert.equal(makeFixedOutputPath('flat', sha1, 'fixed-sha1'), '/nix/store/nmgdpynwhd4yljfay4r39m8n1m0khqf9-fixed-sha1');
    assert.equal(makeFixedOutputPath('recursive', sha1, 'rec-sha1'), '/nix/store/3i2cdh1rfj8kwa42d49hn50rx98b9dmc-rec-sha1');
    const nar = Hash.parse('sha256:1c37d01af40be2e80691de3cc3df44377a699afbb17c68f080964b2fd071fc13');
    assert.equal(makeFixedOutputPath('recursive', nar, 'fixed-rec'), '/nix/store/njgw645jdvwpbc9zdzy92axmwpfxdzi4-fixed-rec');
  });

  it('input-addressed outputs come from the masked modulo hash', () => {
    const h = Hash.parse('sha256:e59c995129fd1b60ad8ab573bad81cfccd86df0dcc5bb8c26ced1edbac16d01a');
    assert.equal(makeOutputPath('out', h, 'simple'), '/nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple');
  });

  it('a content address string round-trips and gives the path back', () => {
    const ca = parseContentAddress('fixed:r:sha256:1hnjs9cv6ly002ckyighzdrj265xy72dcrjv1bv8skzb3h4bgb42');
    assert.equal(renderContentAddress(ca), 'fixed:r:sha256:1hnjs9cv6ly002ckyighzdrj265xy72dcrjv1bv8skzb3h4bgb42');
    assert.equal(contentAddressPath(ca, '01-regular.txt', [], undefined), '/nix/store/fmnmafj8xp9i19slpacsjrdqkb1zy7w8-01-regular.txt');
  });
});

describe('store path names (vectors/hash/name-rules.txt)', () => {
  it('accepts a leading dot and 211 characters', () => {
    checkStorePathName('.hidden');
    checkStorePathName('a'.repeat(211));
  });
  it('rejects 212 characters with Nix wording', () => {
    assert.throws(() => checkStorePathName('a'.repeat(212)), /has a name longer than 211 characters/);
  });
  it('rejects a space with Nix wording', () => {
    assert.throws(() => checkStorePathName('has space'), /contains illegal character ' '/);
  });
  it('rejects an empty name', () => assert.throws(() => checkStorePathName(''), InvalidPathError));
  it('rejects a hash part with a letter nix32 does not use', () => {
    assert.throws(() => parseStorePath('/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x'), /invalid hash part/);
  });
  it('rejects a path outside the store and a path inside a store path', () => {
    assert.throws(() => parseStorePath('/tmp/foo'), /not in the Nix store/);
    assert.throws(() => parseStorePath('/nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple/bin'), InvalidPathError);
  });
  it('finds the store path a file belongs to', () => {
    assert.equal(toStorePath('/nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple/bin/x'), '/nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple');
  });
});
