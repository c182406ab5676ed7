import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeNar } from '../../../src/format/nar/index.js';
import { dumpPath, dumpPathSync, NarDumpError } from '../../../src/store/nar/index.js';
import { MAX_DIRECTORY_FDS } from '../../../src/store/nar/dumpPlanner.js';
import { useFileIo } from '../../../src/store/fileIo.js';
import { SubtreeHelper } from '../../../src/store/nar/subtreeHelper.js';
import { copyPathHere } from '../../../src/store/pathHashing.js';
import { buildTree, collect, removeTree, tempDir } from './narFixtures.js';

/** Every entry under `root` (itself included) that does not have the store's modes and time. */
function unlikeStore(root: string): string[] {
  const wrong: string[] = [];
  const visit = (path: string): void => {
    const stats = lstatSync(path);
    if (stats.mtimeMs !== 1000) wrong.push(`${path}: mtime ${stats.mtimeMs}`);
    if (stats.isSymbolicLink()) return;
    const mode = stats.mode & 0o7777;
    if (stats.isDirectory()) {
      if (mode !== 0o555) wrong.push(`${path}: mode ${mode.toString(8)}`);
      for (const name of readdirSync(path)) visit(join(path, name));
    } else if (mode !== 0o444 && mode !== 0o555) {
      wrong.push(`${path}: mode ${mode.toString(8)}`);
    }
  };
  visit(root);
  return wrong;
}

/** Dumps `source` while copying it to `target`; returns the NAR yielded. */
function copyWhileDumping(source: string, target: string, extra: Parameters<typeof dumpPathSync>[1] = {}): Buffer {
  const parts: Buffer[] = [];
  for (const chunk of dumpPathSync(source, { copyTo: target, ...extra })) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

describe('dumpPath copying the tree as it dumps it (what --add does)', () => {
  let scratch: string;
  before(() => {
    scratch = tempDir();
  });
  after(() => removeTree(scratch));

  it('makes a copy whose NAR is the NAR it yields, with the store modes and times', async () => {
    const source = join(scratch, 'tree');
    const expected = encodeNar(buildTree(source, 30));
    const target = join(scratch, 'tree-copy');
    assert.deepEqual(copyWhileDumping(source, target, { threads: 0 }), expected);
    assert.deepEqual(await collect(dumpPath(target)), expected);
    assert.deepEqual(unlikeStore(target), []);
  });

  it('makes the same copy without the file addon (plain fs calls)', async () => {
    const source = join(scratch, 'tree');
    const target = join(scratch, 'tree-copy-plain');
    useFileIo(false);
    try {
      assert.deepEqual(copyWhileDumping(source, target, { threads: 0 }), await collect(dumpPath(source)));
    } finally {
      useFileIo(true);
    }
    assert.deepEqual(await collect(dumpPath(target)), await collect(dumpPath(source)));
    assert.deepEqual(unlikeStore(target), []);
  });

  it('gives the store modes under a umask that takes bits (0277)', async () => {
    const source = join(scratch, 'tree');
    const target = join(scratch, 'tree-copy-umask');
    const previous = process.umask(0o277);
    try {
      copyWhileDumping(source, target, { threads: 0 });
    } finally {
      process.umask(previous);
    }
    assert.deepEqual(await collect(dumpPath(target)), await collect(dumpPath(source)));
    assert.deepEqual(unlikeStore(target), []);
  });

  it('copies a tree deeper than the directories it holds open at once', async () => {
    let path = join(scratch, 'deep');
    const source = path;
    mkdirSync(source);
    for (let i = 0; i < MAX_DIRECTORY_FDS + 40; i++) {
      path = join(path, 'd');
      mkdirSync(path);
      writeFileSync(join(path, 'f'), `${i}`);
    }
    const target = join(scratch, 'deep-copy');
    const nar = copyWhileDumping(source, target);
    assert.deepEqual(await collect(dumpPath(target)), nar);
    assert.deepEqual(unlikeStore(target), []);
  });

  it('gives the same copy when a helper thread copies part of the tree', async () => {
    const source = join(scratch, 'tree');
    const expected = encodeNar(buildTree(join(scratch, 'unused'), 30));
    const target = join(scratch, 'tree-copy-threads');
    const before = SubtreeHelper.fragmentsDelivered;
    // Slow at first, so that the helper thread is running before most of the tree is done.
    const parts: Buffer[] = [];
    for await (const chunk of dumpPath(source, { copyTo: target, threads: 1, helperAfterEntries: 0, chunkSize: 16384 })) {
      parts.push(Buffer.from(chunk));
      if (parts.length <= 20) await sleep(25);
    }
    assert.deepEqual(Buffer.concat(parts), expected);
    assert.ok(SubtreeHelper.fragmentsDelivered > before, 'the helper thread copied no subtree');
    assert.deepEqual(await collect(dumpPath(target)), expected);
    assert.deepEqual(unlikeStore(target), []);
  });

  it('copies a file larger than a chunk, and single files and symlinks as the root', async () => {
    const big = join(scratch, 'big');
    const contents = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));
    writeFileSync(big, contents);
    chmodSync(big, 0o700);
    const bigCopy = join(scratch, 'big-copy');
    const nar = copyWhileDumping(big, bigCopy, { chunkSize: 32768 });
    assert.deepEqual(nar, encodeNar({ type: 'regular', executable: true, contents }));
    assert.deepEqual(readFileSync(bigCopy), contents);
    assert.deepEqual(unlikeStore(bigCopy), []);

    const link = join(scratch, 'link');
    symlinkSync('some/where', link);
    const linkCopy = join(scratch, 'link-copy');
    assert.deepEqual(copyWhileDumping(link, linkCopy), encodeNar({ type: 'symlink', target: Buffer.from('some/where') }));
    assert.equal(lstatSync(linkCopy).mtimeMs, 1000);
  });

  it('hashes the NAR it copies: copyPathHere gives the NAR hash and size of the copy', async () => {
    const source = join(scratch, 'tree');
    const target = join(scratch, 'tree-copy-hashed');
    const { narHash, narSize, extraNarHash } = await copyPathHere(source, target, false, 'sha1');
    const nar = await collect(dumpPath(target));
    assert.equal(narSize, nar.length);
    assert.equal(narHash.digest.toString('hex'), createHash('sha256').update(nar).digest('hex'));
    assert.equal(extraNarHash?.digest.toString('hex'), createHash('sha1').update(nar).digest('hex'));
  });

  it('copies a file past 8 MiB, hashed on the hashing thread: the NAR hash and size of the copy', async () => {
    const source = join(scratch, 'with-large');
    mkdirSync(source);
    const large = Buffer.from(Array.from({ length: (20 << 20) + 3 }, (_, i) => (i * 31) % 256));
    writeFileSync(join(source, 'large'), large);
    writeFileSync(join(source, 'z-after'), 'after');
    const target = join(scratch, 'with-large-copy');
    const { narHash, narSize } = await copyPathHere(source, target, false);
    const nar = await collect(dumpPath(source));
    assert.equal(narSize, nar.length);
    assert.equal(narHash.digest.toString('hex'), createHash('sha256').update(nar).digest('hex'));
    assert.deepEqual(await collect(dumpPath(target)), nar);
    assert.deepEqual(unlikeStore(target), []);
  });

  it('fails on an unsupported file with its path, and copies nothing outside the target', () => {
    const source = join(scratch, 'with-fifo');
    mkdirSync(source);
    writeFileSync(join(source, 'a'), 'a');
    execFileSync('mkfifo', [join(source, 'b')]);
    const target = join(scratch, 'with-fifo-copy');
    const before = readdirSync(scratch).sort();
    assert.throws(
      () => copyWhileDumping(source, target),
      (err: Error) => err instanceof NarDumpError && err.message === `file '${join(source, 'b')}' has an unsupported type`,
    );
    assert.deepEqual(readdirSync(scratch).sort(), [...before, 'with-fifo-copy'].sort());
    assert.deepEqual(readdirSync(target), ['a']);
  });

  it('never writes into an existing target', () => {
    const source = join(scratch, 'tree');
    const target = join(scratch, 'exists');
    mkdirSync(target);
    assert.throws(() => copyWhileDumping(source, target), /EEXIST/);
    assert.deepEqual(readdirSync(target), []);
    assert.ok(!existsSync(join(target, 'd000')));
  });

  it('refuses to copy with the case hack, whose names on disk are not the NAR names', () => {
    assert.throws(() => copyWhileDumping(join(scratch, 'tree'), join(scratch, 'hacked'), { useCaseHack: true }), /case hack/);
  });
});
