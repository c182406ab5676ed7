/**
 * Narinfo files against the binary-cache vectors written by `nix copy` (cache-none, cache-xz):
 * parsing, Nix's byte-exact serialisation, the signed fingerprint and its signatures, and
 * the inputs Nix calls corrupt.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { Hash } from '../../../src/format/hash.js';
import { narInfoFingerprint, NarInfoFormatError, parseNarInfo, serializeNarInfo } from '../../../src/format/narinfo.js';
import { parsePublicKey, verifySignature } from '../../../src/format/signing.js';
import { fixture } from '../../support/fixtures.js';

const STORE = '/nix/store';
const caches = ['cache-none', 'cache-xz'];

function vectorNarInfos(): { file: string; text: string }[] {
  return caches.flatMap((cache) => {
    const dir = fixture(`binary-cache/${cache}`);
    return readdirSync(dir)
      .filter((f) => f.endsWith('.narinfo'))
      .map((f) => ({ file: `${cache}/${f}`, text: readFileSync(`${dir}/${f}`, 'utf8') }));
  });
}

const trusted = parsePublicKey(readFileSync(fixture('binary-cache/public.key'), 'utf8'), 'public.key');

/** The spec's example narinfo (cache-xz/czmxh…), to derive the bad inputs from. */
const example = readFileSync(fixture('binary-cache/cache-xz/czmxh0q1hdaw4bf1s12qf6jq5l4g4y0y.narinfo'), 'utf8');

function withLine(key: string, replacement: string | undefined): string {
  return example
    .split('\n')
    .map((line) => (line.startsWith(`${key}: `) ? replacement : line))
    .filter((line) => line !== undefined)
    .join('\n');
}

function rejects(text: string, field: string | undefined, detail: RegExp): void {
  assert.throws(
    () => parseNarInfo(text, STORE, 'test.narinfo'),
    (e: unknown) => {
      assert.ok(e instanceof NarInfoFormatError, String(e));
      assert.equal(e.field, field);
      assert.match(e.message, /^NAR info file 'test\.narinfo' is corrupt: /);
      if (field !== undefined) assert.ok(e.message.includes(`field '${field}'`), e.message);
      assert.match(e.message, detail);
      return true;
    },
  );
}

describe('narinfo (vectors/binary-cache)', () => {
  const vectors = vectorNarInfos();
  it('finds the five paths in each of the two caches', () => assert.equal(vectors.length, 10));

  for (const { file, text } of vectors) {
    it(`${file}: parses, and serialises back to the same bytes`, () => {
      const info = parseNarInfo(text, STORE, file);
      assert.equal(`${info.storePath.slice(STORE.length + 1, STORE.length + 33)}.narinfo`, file.split('/')[1]);
      assert.equal(serializeNarInfo(info, STORE), text);
    });
    it(`${file}: its Sig verifies with public.key over the fingerprint`, () => {
      const info = parseNarInfo(text, STORE, file);
      assert.equal(info.sigs.length, 1);
      assert.ok(verifySignature(info.sigs[0]!, narInfoFingerprint(info), [trusted]));
    });
  }

  it('reads the example field by field', () => {
    const info = parseNarInfo(example, STORE, 'example');
    assert.equal(info.storePath, '/nix/store/czmxh0q1hdaw4bf1s12qf6jq5l4g4y0y-with-ref');
    assert.equal(info.url, 'nar/1khd6c7ms7xr2darm1bw51nfk6h84f19hd4jmsc0f9p5ka1s4rxr.nar.xz');
    assert.equal(info.compression, 'xz');
    assert.equal(info.fileHash?.toNix32(), '1khd6c7ms7xr2darm1bw51nfk6h84f19hd4jmsc0f9p5ka1s4rxr');
    assert.equal(info.fileSize, 176);
    assert.ok(info.narHash.equals(Hash.parse('sha256:0d0zk6r2v834spqhv10swv89nslp6ib2629c9561nah2nmbns580')));
    assert.equal(info.narSize, 168);
    assert.deepEqual(info.references, ['/nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple']);
    assert.equal(info.deriver, '/nix/store/m0vq8cw83izvmq55vjzij09fjn4xlfp0-with-ref.drv');
    assert.equal(info.system, undefined);
    assert.equal(info.ca, undefined);
  });

  it('gives the fingerprint the spec gives for the example', () => {
    assert.equal(
      narInfoFingerprint(parseNarInfo(example, STORE, 'example')),
      '1;/nix/store/czmxh0q1hdaw4bf1s12qf6jq5l4g4y0y-with-ref;sha256:0d0zk6r2v834spqhv10swv89nslp6ib2629c9561nah2nmbns580;168;/nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple',
    );
  });

  it('ends the fingerprint with ";" when there are no references', () => {
    const info = parseNarInfo(readFileSync(fixture('binary-cache/cache-xz/8awlk6rgzynhczrf7mwqjfk93zbcldl6.narinfo'), 'utf8'), STORE, 'a');
    assert.deepEqual(info.references, []);
    assert.match(narInfoFingerprint(info), /;120;$/);
  });

  it('does not verify once a byte of NarHash or a reference is changed', () => {
    const info = parseNarInfo(example, STORE, 'example');
    const sig = info.sigs[0]!;
    const digest = Buffer.from(info.narHash.digest);
    digest[0]! ^= 1;
    assert.equal(verifySignature(sig, narInfoFingerprint({ ...info, narHash: new Hash('sha256', digest) }), [trusted]), false);
    const ref = info.references[0]!.replace('dzlyqx', 'dzlyqy');
    assert.equal(verifySignature(sig, narInfoFingerprint({ ...info, references: [ref] }), [trusted]), false);
    assert.equal(verifySignature(sig, narInfoFingerprint({ ...info, narSize: 169 }), [trusted]), false);
  });

  it('does not count a signature when the trusted key of that name is missing', () => {
    const info = parseNarInfo(example, STORE, 'example');
    const otherName = { name: 'test-cache-2', key: trusted.key };
    assert.equal(verifySignature(info.sigs[0]!, narInfoFingerprint(info), [otherName]), false);
  });

  it('reads NarHash and FileHash in SRI and base-16 form too, and writes them as nix32', () => {
    const info = parseNarInfo(example, STORE, 'example');
    const sri = withLine('NarHash', `NarHash: ${info.narHash.toSRI()}`).replace(
      /FileHash: .*/,
      `FileHash: sha256:${info.fileHash!.toBase16()}`,
    );
    assert.equal(serializeNarInfo(parseNarInfo(sri, STORE, 'sri'), STORE), example);
  });

  it('reads a missing or empty Compression as bzip2, unknown-deriver as none, unknown keys as nothing', () => {
    const text = withLine('Compression', undefined).replace('Deriver: m0vq8cw83izvmq55vjzij09fjn4xlfp0-with-ref.drv', 'Deriver: unknown-deriver') + 'Future: 1\n';
    const info = parseNarInfo(text, STORE, 'old');
    assert.equal(info.compression, 'bzip2');
    assert.equal(info.deriver, undefined);
    assert.equal(parseNarInfo(withLine('Compression', 'Compression: '), STORE, 'empty').compression, 'bzip2');
  });

  it('keeps every Sig, sorted and once each, and System and CA', () => {
    const text = example + 'Sig: b:AAAA\nSig: a:BBBB\nSig: a:BBBB\nSystem: x86_64-linux\nCA: text:sha256:181hzh2f17bgxv0p90gqygyrl3jgiz96dw2mhlbfwimw0aw63y86\n';
    const info = parseNarInfo(text, STORE, 'sigs');
    assert.equal(info.sigs.length, 3);
    assert.deepEqual(info.sigs, [...info.sigs].sort());
    assert.equal(info.system, 'x86_64-linux');
    assert.match(serializeNarInfo(info, STORE), /\nSystem: x86_64-linux\nSig: a:BBBB\nSig: b:AAAA\nSig: test-cache-1:.*\nCA: text:sha256:/);
  });

  it('sorts references given out of order', () => {
    const text = withLine('References', 'References: dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple 8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt');
    const info = parseNarInfo(text, STORE, 'refs');
    assert.deepEqual(info.references, ['/nix/store/8awlk6rgzynhczrf7mwqjfk93zbcldl6-a.txt', '/nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple']);
    assert.match(serializeNarInfo(info, STORE), /\nReferences: 8awlk6rgzynhczrf7mwqjfk93zbcldl6-a\.txt dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple\n/);
  });

  describe('rejects what Nix calls corrupt, naming the field', () => {
    for (const key of ['StorePath', 'URL', 'NarHash', 'NarSize']) {
      it(`a missing ${key}`, () => rejects(withLine(key, undefined), key, /missing/));
    }
    it('an empty URL', () => rejects(withLine('URL', 'URL: '), 'URL', /empty/));
    it('NarSize 0', () => rejects(withLine('NarSize', 'NarSize: 0'), 'NarSize', /zero/));
    it('a NarSize that is not a number', () => rejects(withLine('NarSize', 'NarSize: 16x'), 'NarSize', /'16x' is not a number/));
    it('a negative FileSize', () => rejects(withLine('FileSize', 'FileSize: -1'), 'FileSize', /not a number/));
    it('a NarHash that does not decode', () =>
      rejects(withLine('NarHash', 'NarHash: sha256:0d0zk6r2v834spqhv10swv89nslp6ib2629c9561nah2nmbns58'), 'NarHash', /wrong length/));
    it('a NarHash without its type', () =>
      rejects(withLine('NarHash', 'NarHash: 0d0zk6r2v834spqhv10swv89nslp6ib2629c9561nah2nmbns580'), 'NarHash', /does not include a type/));
    it('a bad FileHash', () => rejects(withLine('FileHash', 'FileHash: sha256:xyz'), 'FileHash', /hash/));
    it('a StorePath outside the store directory', () =>
      rejects(withLine('StorePath', 'StorePath: /gnu/store/czmxh0q1hdaw4bf1s12qf6jq5l4g4y0y-with-ref'), 'StorePath', /not in the Nix store/));
    it('a StorePath that is not a store path', () =>
      rejects(withLine('StorePath', 'StorePath: /nix/store/czmxh0q1hdaw4bf1s12qf6jq5l4g4y0y'), 'StorePath', /not a valid store path/));
    it('a reference that does not parse', () =>
      rejects(withLine('References', 'References: dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple not-a-path'), 'References', /not-a-path/));
    it('a reference given as a full path', () =>
      rejects(withLine('References', 'References: /nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple'), 'References', /base name/));
    it('a Deriver that does not parse', () => rejects(withLine('Deriver', 'Deriver: bad'), 'Deriver', /bad/));
    it('a CA that does not parse', () => rejects(example + 'CA: fixed:nonsense\n', 'CA', /content address/));
    it('a StorePath given twice', () =>
      rejects(example + 'StorePath: /nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple\n', 'StorePath', /more than once/));
    it("a line without ': '", () => rejects(example.replace('NarSize: 168', 'NarSize:168'), undefined, /line 7 'NarSize:168' is not of the form/));
    it('an empty line', () => rejects(example + '\n', undefined, /line 11 '' is not of the form/));
    it('a last line without its newline', () => rejects(example.slice(0, -1), undefined, /not terminated by a newline/));
  });

  it('serialises without FileHash/FileSize when they are unknown', () => {
    const info = parseNarInfo(example, STORE, 'example');
    delete info.fileHash;
    delete info.fileSize;
    assert.equal(serializeNarInfo(info, STORE), example.replace(/FileHash: .*\nFileSize: .*\n/, ''));
  });
});
