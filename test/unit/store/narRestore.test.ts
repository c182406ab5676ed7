import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NarFormatError } from '../../../src/format/errors.js';
import { encodeNarTokens } from '../../../src/format/nar/index.js';
import { WireReader } from '../../../src/format/wire.js';
import { dumpPath, NarRestoreError, restorePath } from '../../../src/store/nar/index.js';
import { AtDirectory } from '../../../src/store/nar/atDirectory.js';
import { BAD_NARS, directory, nar, regular, symlink } from '../format/narCases.js';
import { collect, narVectors, removeTree, tempDir } from './narFixtures.js';

/** Delivers bytes in uneven pieces, like a socket. */
async function* pieces(bytes: Buffer, size = 13): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

describe('restorePath (vectors/nar, as nix-store --restore)', () => {
  let scratch: string;
  beforeEach(() => {
    scratch = tempDir();
  });
  afterEach(() => removeTree(scratch));

  for (const v of narVectors()) {
    it(`restores ${v.name} so that dumping it gives Nix's NAR again, and returns its hash and size`, async () => {
      const target = join(scratch, v.name);
      const result = await restorePath(target, pieces(v.nar));
      assert.equal(result.narHash.toNix32(), v.sha256Nix32);
      assert.equal(result.narHash.algo, 'sha256');
      assert.equal(result.narSize, v.size);
      assert.deepEqual(await collect(dumpPath(target)), v.nar);
    });
  }

  it('hashes the exact NAR bytes whatever the chunking, small tokens and large contents alike', async () => {
    const contents = Buffer.alloc(300_000);
    for (let i = 0; i < contents.length; i++) contents[i] = (i * 7) & 0xff;
    const bytes = nar(directory(['big', regular(contents, true)], ['link', symlink('big')], ['small', regular('x')]));
    const expected = createHash('sha256').update(bytes).digest('hex');
    for (const size of [1, 4095, 65536, bytes.length]) {
      const target = join(scratch, `hashed-${size}`);
      const result = await restorePath(target, pieces(bytes, size));
      assert.equal(result.narHash.toBase16(), expected, `pieces of ${size}`);
      assert.equal(result.narSize, bytes.length);
      assert.deepEqual(readFileSync(join(target, 'big')), contents);
    }
  });

  it('gives files mode 0444 or 0555 and directories 0555, and keeps symlink targets verbatim', async () => {
    const target = join(scratch, 'tree');
    await restorePath(target, pieces(narVectors().find((v) => v.name === '06-tree')!.nar));
    const mode = (path: string) => lstatSync(join(target, path)).mode & 0o7777;
    assert.equal(mode(''), 0o555);
    assert.equal(mode('sub/deeper'), 0o555);
    assert.equal(mode('a.txt'), 0o444);
    assert.equal(mode('sub/run'), 0o555);
    assert.equal(readFileSync(join(target, 'sub/eight-bytes'), 'utf8'), '12345678');
    assert.equal(readlinkSync(join(target, 'link-to-a')), 'a.txt');
  });

  it('with storeModes off, leaves writable modes as nix-store --restore does', async () => {
    const target = join(scratch, 'plain');
    const previous = process.umask(0o022);
    try {
      await restorePath(target, pieces(narVectors().find((v) => v.name === '06-tree')!.nar), { storeModes: false });
    } finally {
      process.umask(previous);
    }
    const mode = (path: string) => lstatSync(join(target, path)).mode & 0o7777;
    assert.equal(mode(''), 0o755);
    assert.equal(mode('a.txt'), 0o644);
    assert.equal(mode('sub/run'), 0o755);
  });

  it('reads exactly one NAR from a WireReader, leaving what follows and the caller tap in place', async () => {
    const v = narVectors().find((x) => x.name === '07-sorting')!;
    const reader = new WireReader(pieces(Buffer.concat([v.nar, encodeNarTokens(['next message'])]), 5));
    let tapped = 0;
    const tap = (bytes: Buffer) => (tapped += bytes.length);
    reader.onConsume = tap;
    const result = await restorePath(join(scratch, 'sorted'), reader);
    assert.equal(result.narSize, v.size);
    assert.equal(tapped, v.size);
    assert.equal(reader.onConsume, tap);
    assert.equal(await reader.readString(), 'next message');
  });

  it('refuses data after the NAR when it owns the whole stream', async () => {
    const bytes = Buffer.concat([nar(regular('x')), Buffer.from('garbage!')]);
    await assert.rejects(restorePath(join(scratch, 'x'), pieces(bytes)), /invalid NAR at offset 120: unexpected data after the end of the archive/);
  });

  it('refuses a target that already exists, and leaves it alone', async () => {
    const target = join(scratch, 'exists');
    writeFileSync(target, 'mine');
    await assert.rejects(restorePath(target, pieces(nar(regular('x')))), (err: Error) => err instanceof NarRestoreError && err.message === `cannot restore to '${target}': it already exists`);
    assert.equal(readFileSync(target, 'utf8'), 'mine');
  });

  it('with the case hack, restores names differing by case as Nix does, and dumps back the same NAR', async () => {
    const original = nar(directory(['AB', regular('1')], ['Ab', regular('2')], ['aB', regular('3')], ['ab', regular('4')]));
    const target = join(scratch, 'ch3r');
    await restorePath(target, pieces(original), { useCaseHack: true });
    assert.deepEqual(readdirSync(target).sort(), ['AB', 'Ab~nix~case~hack~1', 'aB~nix~case~hack~2', 'ab~nix~case~hack~3']);
    assert.equal(readFileSync(join(target, 'aB~nix~case~hack~2'), 'utf8'), '3');
    assert.deepEqual(await collect(dumpPath(target, { useCaseHack: true })), original);
    assert.notDeepEqual(await collect(dumpPath(target)), original);
  });

  it('reports a truncated NAR clearly', async () => {
    const v = narVectors().find((x) => x.name === '06-tree')!;
    await assert.rejects(
      restorePath(join(scratch, 'cut'), pieces(v.nar.subarray(0, 1000))),
      (err: Error) => err instanceof NarFormatError && /^NAR is truncated at offset 1000: the input ended while reading /.test(err.message),
    );
  });

  describe('a hostile NAR creates nothing outside the target', () => {
    /** Restores into scratch/work/target and checks that only `target` appeared in work/ and canary/ stayed empty. */
    async function restoreConfined(bytes: Buffer): Promise<unknown> {
      const work = join(scratch, 'work');
      mkdirSync(work);
      mkdirSync(join(scratch, 'canary'));
      let failure: unknown;
      try {
        await restorePath(join(work, 'target'), pieces(bytes));
      } catch (err) {
        failure = err;
      }
      assert.deepEqual(readdirSync(join(scratch, 'canary')), []);
      assert.ok(readdirSync(work).every((name) => name === 'target'), `work holds ${readdirSync(work).join(', ')}`);
      assert.deepEqual(readdirSync(scratch).sort(), ['canary', 'work']);
      return failure;
    }

    for (const bad of BAD_NARS) {
      it(`refuses ${bad.what}`, async () => {
        const err = await restoreConfined(bad.bytes);
        assert.ok(err instanceof NarFormatError, String(err));
        assert.match(err.message, bad.error);
      });
    }

    it('cannot write through a symlink it planted (CVE-2024-45593): same name as symlink then directory', async () => {
      const canary = join(scratch, 'canary');
      const bytes = nar(directory(['escape', symlink(canary)], ['escape', directory(['pwned', regular('owned')])]));
      const err = await restoreConfined(bytes);
      assert.ok(err instanceof NarFormatError);
      assert.match(err.message, /duplicate entry name "escape"/);
    });

    it('cannot write through a symlink that the case hack would make collide', async () => {
      const canary = join(scratch, 'canary');
      const bytes = nar(directory(['ESCAPE', symlink(canary)], ['escape', directory(['pwned', regular('owned')])]));
      const work = join(scratch, 'work');
      mkdirSync(work);
      mkdirSync(canary);
      await restorePath(join(work, 'target'), pieces(bytes), { useCaseHack: true });
      assert.deepEqual(readdirSync(canary), []);
      assert.deepEqual(readdirSync(join(work, 'target')).sort(), ['ESCAPE', 'escape~nix~case~hack~1']);
      assert.equal(readFileSync(join(work, 'target', 'escape~nix~case~hack~1', 'pwned'), 'utf8'), 'owned');
    });

    it('cannot reuse a name that the case hack invented', async () => {
      const bytes = nar(directory(['A', regular('1')], ['a', regular('2')], ['a~nix~case~hack~1', regular('3')]));
      const work = join(scratch, 'work');
      mkdirSync(work);
      await assert.rejects(restorePath(join(work, 'target'), pieces(bytes), { useCaseHack: true }), /an entry with that name already exists/);
      assert.equal(readFileSync(join(work, 'target', 'a~nix~case~hack~1'), 'utf8'), '2');
    });

    it('never follows or replaces an existing symlink when creating an entry, even without the parser checks', () => {
      const canary = join(scratch, 'canary');
      mkdirSync(canary);
      const work = join(scratch, 'work');
      mkdirSync(work);
      const directory = AtDirectory.open(work);
      try {
        const name = Buffer.from('escape');
        directory.symlink(name, Buffer.from(canary));
        assert.throws(() => directory.mkdir(name), /EEXIST/);
        assert.throws(() => directory.createFile(name), /EEXIST/);
        assert.throws(() => directory.symlink(name, Buffer.from('/')), /EEXIST/);
      } finally {
        directory.close();
      }
      assert.deepEqual(readdirSync(canary), []);
    });

    it('stops at 1024 nested directories with a clear message (100,000 levels in the NAR)', async () => {
      const depth = 100_000;
      const parts = [encodeNarTokens(['nix-archive-1', '(', 'type', 'directory'])];
      const level = encodeNarTokens(['entry', '(', 'name', 'd', 'node', '(', 'type', 'directory']);
      for (let i = 0; i < depth; i++) parts.push(level);
      const err = await restoreConfined(Buffer.concat(parts));
      assert.ok(err instanceof NarFormatError);
      assert.match(err.message, /directories are nested more than 1024 levels deep/);
    });
  });
});
