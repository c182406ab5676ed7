/**
 * Ed25519 keys and signatures in Nix's text formats, against the test key `test-cache-1`
 * and the `Sig:` lines `nix copy` wrote into the binary-cache vectors.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { narInfoFingerprint, parseNarInfo } from '../../../src/format/narinfo.js';
import {
  generateKeyPair,
  parsePublicKey,
  parseSecretKey,
  signFingerprint,
  SigningKeyError,
  verifySignature,
} from '../../../src/format/signing.js';
import { fixture } from '../../support/fixtures.js';

const secretText = readFileSync(fixture('binary-cache/secret.key'), 'utf8');
const publicText = readFileSync(fixture('binary-cache/public.key'), 'utf8');

describe('signing keys and signatures (vectors/binary-cache)', () => {
  it('reads the test key pair: name, seed, and the public key both files agree on', () => {
    const secret = parseSecretKey(secretText, 'secret.key');
    const pub = parsePublicKey(publicText, 'public.key');
    assert.equal(secret.name, 'test-cache-1');
    assert.equal(pub.name, 'test-cache-1');
    assert.equal(secret.seed.length, 32);
    assert.equal(pub.key.toString('base64'), 'XFs/fmpnEXhcgUTWffokaCVp548oGpEtMWb2O25Rs/g=');
    assert.ok(secret.publicKey.equals(pub.key));
  });

  const dir = fixture('binary-cache/cache-none');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.narinfo'))) {
    it(`signing ${file}'s fingerprint with secret.key gives its Sig exactly`, () => {
      const info = parseNarInfo(readFileSync(`${dir}/${file}`, 'utf8'), '/nix/store', file);
      assert.equal(signFingerprint(parseSecretKey(secretText, 'secret.key'), narInfoFingerprint(info)), info.sigs[0]);
    });
  }

  it('a generated key pair signs and verifies, and is in Nix format without a trailing newline', () => {
    const pair = generateKeyPair('my-cache-1');
    assert.match(pair.secret, /^my-cache-1:[A-Za-z0-9+/]{86}==$/);
    assert.match(pair.public, /^my-cache-1:[A-Za-z0-9+/]{43}=$/);
    const secret = parseSecretKey(pair.secret, 'new secret');
    const pub = parsePublicKey(pair.public, 'new public');
    const sig = signFingerprint(secret, '1;/nix/store/x;sha256:y;1;');
    assert.match(sig, /^my-cache-1:/);
    assert.ok(verifySignature(sig, '1;/nix/store/x;sha256:y;1;', [pub]));
    assert.equal(verifySignature(sig, '1;/nix/store/x;sha256:y;2;', [pub]), false);
    // A key of the same name but other bytes does not verify it either.
    assert.equal(verifySignature(sig, '1;/nix/store/x;sha256:y;1;', [parsePublicKey(publicText.replace('test-cache-1', 'my-cache-1'), 'p')]), false);
  });

  it('refuses a key name it could not read back', () => {
    for (const name of ['', 'a:b', 'a b']) assert.throws(() => generateKeyPair(name), SigningKeyError);
  });

  it('tolerates a trailing newline in key files', () => {
    assert.equal(parsePublicKey(publicText + '\n', 'p').name, 'test-cache-1');
    assert.equal(parseSecretKey(secretText + '\r\n', 's').name, 'test-cache-1');
  });

  describe('rejects malformed keys, naming the source', () => {
    const cases: [string, () => unknown, RegExp][] = [
      ['no colon', () => parsePublicKey('XFs/fmpnEXhcgUTWffokaCVp548oGpEtMWb2O25Rs/g=', 'trusted-public-keys'), /public key 'trusted-public-keys' is corrupt/],
      ['an empty name', () => parsePublicKey(':XFs/fmpnEXhcgUTWffokaCVp548oGpEtMWb2O25Rs/g=', 'k.pub'), /'k\.pub' is corrupt: the key name is empty/],
      ['bad base64', () => parsePublicKey('n:XFs/fmpnEX!cgUTWffokaCVp548oGpEtMWb2O25Rs/g=', 'k.pub'), /'k\.pub' is corrupt: the key is not valid base64/],
      ['an empty key', () => parseSecretKey('n:', 'k.sec'), /secret key 'k\.sec' is corrupt/],
      ['a public key of the wrong length', () => parsePublicKey('n:AAAA', 'k.pub'), /public key 'k\.pub' is not valid: it is 3 bytes, not 32/],
      ['a public key given as the secret', () => parseSecretKey(publicText, 'k.sec'), /secret key 'k\.sec' is not valid: it is 32 bytes, not 64/],
      [
        'a secret whose public half is not its own',
        () => {
          const bytes = Buffer.from(secretText.trim().split(':')[1]!, 'base64');
          bytes[40]! ^= 1;
          return parseSecretKey(`test-cache-1:${bytes.toString('base64')}`, 'k.sec');
        },
        /public half does not belong to its seed/,
      ],
    ];
    for (const [what, parse, message] of cases) {
      it(what, () => assert.throws(parse, (e: unknown) => e instanceof SigningKeyError && message.test(e.message)));
    }
  });

  it('treats a malformed signature as not valid instead of throwing', () => {
    const pub = parsePublicKey(publicText, 'public.key');
    for (const sig of ['', 'test-cache-1', 'test-cache-1:', 'test-cache-1:AAAA', ':' + 'A'.repeat(86) + '==', 'test-cache-1:!!!']) {
      assert.equal(verifySignature(sig, '1;x;y;1;', [pub]), false, sig);
    }
  });
});
