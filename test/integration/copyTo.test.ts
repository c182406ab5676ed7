/**
 * `tsnix-store --copy-to URI PATHS`: the closure written as a binary cache Nix's readers take
 * (the narinfos of the vectors byte for byte), signed, with NAR files named by their hash,
 * which a second store substitutes from; copying again writes nothing.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeExportTrailer, EXPORT_END, EXPORT_NEXT } from '../../src/format/exportFormat.js';
import { encodeNix32 } from '../../src/format/base32.js';
import { narInfoFingerprint, parseNarInfo, type NarInfo } from '../../src/format/narinfo.js';
import { parsePublicKey, verifySignature } from '../../src/format/signing.js';
import { encodeString } from '../../src/format/wire.js';
import { decompress, parseCompression } from '../../src/substituters/compression.js';
import { tempDir, tsnixStore, tsnixStoreOk } from '../support/cli.js';
import { fixture } from '../support/fixtures.js';

const vectors = fixture('binary-cache');
const SIMPLE = '/nix/store/dzlyqx2ian7g7d3q7c82f62y9gabffbn-simple';
const WITH_REF = '/nix/store/czmxh0q1hdaw4bf1s12qf6jq5l4g4y0y-with-ref';
const SIMPLE_DRV = '/nix/store/3ka20g6nw09f7rs8lzqydz5yfj5vdx8n-simple.drv';

function fileNar(contents: string): Buffer {
  return Buffer.concat(['nix-archive-1', '(', 'type', 'regular', 'contents', contents, ')'].map((t) => encodeString(t)));
}

/** A store holding the vectors' with-ref and simple (as nix had them: derivers, no signatures) and one --add'ed file. */
async function makeStore(): Promise<{ root: string; added: string }> {
  const root = tempDir('tsnix-copy-src-');
  const simple = Buffer.concat([EXPORT_NEXT, fileNar('hello\n'), encodeExportTrailer({ path: SIMPLE, references: [], deriver: SIMPLE_DRV }), EXPORT_END]);
  await tsnixStoreOk(['--store', root, '--import'], { input: simple });
  await tsnixStoreOk(['--store', root, '--import'], { input: readFileSync(fixture('export/with-ref.export')) });
  const file = join(tempDir(), 'added.txt');
  writeFileSync(file, 'added by --add\n');
  const added = (await tsnixStoreOk(['--store', root, '--add', file])).trim();
  return { root, added };
}

async function generateKey(name: string): Promise<{ secretFile: string; publicKey: string }> {
  const dir = tempDir();
  await tsnixStoreOk(['--generate-binary-cache-key', name, join(dir, 'secret'), join(dir, 'public')]);
  return { secretFile: join(dir, 'secret'), publicKey: readFileSync(join(dir, 'public'), 'utf8') };
}

function narInfoOf(cache: string, path: string): NarInfo {
  const name = `${path.slice('/nix/store/'.length, '/nix/store/'.length + 32)}.narinfo`;
  return parseNarInfo(readFileSync(join(cache, name), 'utf8'), '/nix/store', name);
}

/** Every file of the cache with its modification time, to see what a copy wrote. */
function snapshot(cache: string): Map<string, number> {
  const files = new Map<string, number>();
  for (const entry of readdirSync(cache, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(path.slice(cache.length + 1), statSync(path).mtimeMs);
  }
  return files;
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const all: Buffer[] = [];
  for await (const chunk of chunks) all.push(chunk);
  return Buffer.concat(all);
}

async function* once(bytes: Buffer): AsyncGenerator<Buffer> {
  yield bytes;
}

describe('tsnix-store --copy-to', function () {
  this.timeout(60000);

  it('with compression=none and the vectors\' key, writes the narinfos, NARs and nix-cache-info nix copy wrote, byte for byte', async () => {
    const { root } = await makeStore();
    const cache = join(tempDir(), 'cache');
    const r = await tsnixStore(['--store', root, '--copy-to', `file://${cache}?compression=none&secret-key=${join(vectors, 'secret.key')}`, WITH_REF]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.toString(), '', 'prints nothing, like nix copy');
    assert.equal(readFileSync(join(cache, 'nix-cache-info'), 'utf8'), 'StoreDir: /nix/store\n');
    const expected = join(vectors, 'cache-none');
    for (const hashPart of ['czmxh0q1hdaw4bf1s12qf6jq5l4g4y0y', 'dzlyqx2ian7g7d3q7c82f62y9gabffbn']) {
      const narinfo = readFileSync(join(cache, `${hashPart}.narinfo`), 'utf8');
      assert.equal(narinfo, readFileSync(join(expected, `${hashPart}.narinfo`), 'utf8'));
      const url = /^URL: (.*)$/m.exec(narinfo)![1]!;
      assert.ok(readFileSync(join(cache, url)).equals(readFileSync(join(expected, url))), `${url} equals the vector's`);
    }
    assert.deepEqual([...snapshot(cache).keys()].sort(), [
      'czmxh0q1hdaw4bf1s12qf6jq5l4g4y0y.narinfo',
      'dzlyqx2ian7g7d3q7c82f62y9gabffbn.narinfo',
      'nar/04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw.nar',
      'nar/0d0zk6r2v834spqhv10swv89nslp6ib2629c9561nah2nmbns580.nar',
      'nix-cache-info',
    ]);
  });

  for (const [compression, extension] of [['xz', '.xz'], ['zstd', '.zst'], ['none', ''], ['bzip2', '.bz2'], ['br', '.br']] as const) {
    it(`with compression=${compression}: signed narinfos, NARs named by their FileHash, and a second store substitutes the closure with the same hashes`, async () => {
      const { root, added } = await makeStore();
      const key = await generateKey('copy-test-1');
      const cache = join(tempDir(), 'cache');
      await tsnixStoreOk(['--store', root, '--copy-to', `file://${cache}?compression=${compression}&secret-key=${key.secretFile}`, WITH_REF, added]);
      const trusted = [parsePublicKey(key.publicKey, 'public key')];
      for (const path of [WITH_REF, SIMPLE, added]) {
        const info = narInfoOf(cache, path);
        assert.equal(info.compression, compression);
        assert.equal(info.sigs.length, 1);
        assert.ok(verifySignature(info.sigs[0]!, narInfoFingerprint(info), trusted), `${path}: the signature verifies`);
        const file = readFileSync(join(cache, info.url));
        const fileHash = createHash('sha256').update(file).digest();
        assert.equal(info.url, `nar/${encodeNix32(fileHash)}.nar${extension}`);
        assert.ok(info.fileHash!.digest.equals(fileHash), 'FileHash is the hash of the file');
        assert.equal(info.fileSize, file.length);
        const nar = await collect(decompress(parseCompression(info.compression, info.url), once(file), info.url));
        assert.ok(createHash('sha256').update(nar).digest().equals(info.narHash.digest), 'the NAR has NarHash');
        assert.equal(nar.length, info.narSize);
        if (compression === 'none') assert.ok(info.fileHash!.equals(info.narHash), 'FileHash = NarHash without compression');
        assert.equal(info.narHash.format('nix32'), (await tsnixStoreOk(['--store', root, '-q', '--hash', path])).trim());
      }
      assert.deepEqual(narInfoOf(cache, WITH_REF).references, [SIMPLE]);
      assert.equal(narInfoOf(cache, SIMPLE).deriver, SIMPLE_DRV);
      assert.match(narInfoOf(cache, added).ca ?? '', /^fixed:r:sha256:/);

      const other = tempDir('tsnix-copy-dst-');
      const r = await tsnixStore(['--store', other, '--option', 'substituters', `file://${cache}`, '--option', 'trusted-public-keys', key.publicKey, '-r', WITH_REF, added]);
      assert.equal(r.code, 0, r.stderr);
      for (const path of [WITH_REF, SIMPLE, added]) {
        const hash = (await tsnixStoreOk(['--store', root, '-q', '--hash', path])).trim();
        assert.equal((await tsnixStoreOk(['--store', other, '-q', '--hash', path])).trim(), hash);
      }
      const verify = await tsnixStore(['--store', other, '--verify', '--check-contents']);
      assert.equal(verify.code, 0, verify.stderr);
    });
  }

  it('copying again writes nothing; a new path writes only itself', async () => {
    const { root, added } = await makeStore();
    const cache = join(tempDir(), 'cache');
    await tsnixStoreOk(['--store', root, '--copy-to', `file://${cache}`, WITH_REF]);
    const before = snapshot(cache);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await tsnixStoreOk(['--store', root, '--copy-to', `file://${cache}`, WITH_REF, SIMPLE]);
    assert.deepEqual(snapshot(cache), before);
    await tsnixStoreOk(['--store', root, '--copy-to', `file://${cache}`, added, WITH_REF]);
    const after = snapshot(cache);
    for (const [name, mtime] of before) assert.equal(after.get(name), mtime, `${name} untouched`);
    const fresh = [...after.keys()].filter((name) => !before.has(name));
    assert.equal(fresh.length, 2, `the new path's narinfo and NAR: ${fresh.join(', ')}`);
  });

  it('signs with every key of secret-key-files and keeps the signatures the store has', async () => {
    const { root } = await makeStore();
    const first = await generateKey('first-1');
    const second = await generateKey('second-1');
    const cache = join(tempDir(), 'cache');
    await tsnixStoreOk(['--store', root, '--copy-to', `file://${cache}?secret-key=${first.secretFile}`, SIMPLE]);
    // The substituted path carries first-1's signature into the second store.
    const other = tempDir();
    await tsnixStoreOk(['--store', other, '--option', 'substituters', `file://${cache}`, '--option', 'trusted-public-keys', first.publicKey, '-r', SIMPLE]);
    const again = join(tempDir(), 'cache');
    await tsnixStoreOk(['--store', other, '--option', 'secret-key-files', second.secretFile, '--copy-to', `file://${again}?compression=zstd`, SIMPLE]);
    const info = narInfoOf(again, SIMPLE);
    assert.deepEqual(info.sigs.map((sig) => sig.slice(0, sig.indexOf(':'))).sort(), ['first-1', 'second-1']);
    const keys = [parsePublicKey(first.publicKey, 'first'), parsePublicKey(second.publicKey, 'second')];
    for (const sig of info.sigs) assert.ok(verifySignature(sig, narInfoFingerprint(info), keys));
  });

  it('follows symlinks to store paths given as arguments', async () => {
    const { root } = await makeStore();
    const cache = join(tempDir(), 'cache');
    const logical = join(tempDir(), 'result');
    symlinkSync(WITH_REF, logical);
    await tsnixStoreOk(['--store', root, '--copy-to', `file://${cache}`, logical]);
    assert.equal(narInfoOf(cache, WITH_REF).storePath, WITH_REF);
  });

  it('refuses a path whose contents no longer have its NAR hash, writing no narinfo for it', async () => {
    const { root, added } = await makeStore();
    const real = join(root, added);
    chmodSync(real, 0o644);
    writeFileSync(real, 'changed behind the database\n');
    const cache = join(tempDir(), 'cache');
    const r = await tsnixStore(['--store', root, '--copy-to', `file://${cache}`, added]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^error: refusing to copy corrupted path '${added}' to binary cache`));
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    assert.deepEqual([...snapshot(cache).keys()], ['nix-cache-info']);
  });

  it('refuses a cache for another store directory, an unknown compression, a path that is not valid, and a missing key file', async () => {
    const { root } = await makeStore();
    const cache = tempDir();
    writeFileSync(join(cache, 'nix-cache-info'), 'StoreDir: /gnu/store\n');
    const foreign = await tsnixStore(['--store', root, '--copy-to', `file://${cache}`, SIMPLE]);
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /is for Nix stores with prefix '\/gnu\/store', not '\/nix\/store'/);
    const fresh = join(tempDir(), 'cache');
    const unknown = await tsnixStore(['--store', root, '--copy-to', `file://${fresh}?compression=rar`, SIMPLE]);
    assert.match(unknown.stderr, /unknown compression method 'rar'/);
    const invalid = await tsnixStore(['--store', root, '--copy-to', `file://${fresh}`, '/nix/store/00000000000000000000000000000000-nothing']);
    assert.match(invalid.stderr, /path '\/nix\/store\/00000000000000000000000000000000-nothing' is not valid/);
    const noKey = await tsnixStore(['--store', root, '--copy-to', `file://${fresh}?secret-key=/nonexistent/key`, SIMPLE]);
    assert.equal(noKey.code, 1);
    assert.match(noKey.stderr, /\/nonexistent\/key/);
    const usage = await tsnixStore(['--store', root, '--copy-to', `file://${fresh}`]);
    assert.equal(usage.code, 1);
  });
});
