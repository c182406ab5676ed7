import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeDifferences } from '../../../src/build/treeDiff.js';
import { removeTree, tempDir } from '../store/narFixtures.js';

type Tree = { [name: string]: string | Buffer | Tree | { link: string } | { exec: string } };

function isLeaf(node: Tree[string]): node is string | Buffer {
  return typeof node === 'string' || Buffer.isBuffer(node);
}

function build(path: string, node: Tree[string]): void {
  if (isLeaf(node)) writeFileSync(path, node);
  else if ('link' in node && typeof node.link === 'string') symlinkSync(node.link, path);
  else if ('exec' in node && typeof node.exec === 'string') writeFileSync(path, node.exec, { mode: 0o755 });
  else {
    mkdirSync(path);
    for (const [name, child] of Object.entries(node as Tree)) build(join(path, name), child);
  }
}

describe('describeDifferences (what --check reports when two builds differ)', () => {
  let scratch: string;
  let first: string;
  let second: string;
  beforeEach(() => {
    scratch = tempDir();
    first = join(scratch, 'first');
    second = join(scratch, 'second');
  });
  afterEach(() => removeTree(scratch));

  function trees(a: Tree[string], b: Tree[string]): void {
    build(first, a);
    build(second, b);
  }

  it('finds nothing in identical trees', async () => {
    const tree: Tree = { bin: { tool: { exec: '#!/bin/sh\n' } }, share: { doc: { 'x.txt': 'hello\n' } }, link: { link: 'bin/tool' } };
    trees(tree, tree);
    assert.deepEqual(await describeDifferences(first, second), []);
  });

  it('names each kind of difference with its relative path, in sorted order', async () => {
    trees(
      {
        bin: { tool: { exec: 'v1' }, x: { exec: 'same' } },
        lib: { 'a.so': 'x' },
        link: { link: 'a' },
        share: { doc: { 'x.txt': 'one\ntwo\nthree\n' } },
      },
      {
        bin: { x: 'same' },
        extra: 'new',
        lib: 'not a directory',
        link: { link: 'b' },
        share: { doc: { 'x.txt': 'one\n2\nthree\n' } },
      },
    );
    assert.deepEqual(await describeDifferences(first, second), [
      "'bin/tool': only in the first build",
      "'bin/x': executable bit differs",
      "'extra': only in the second build",
      "'lib': a directory in the first build, a file in the second",
      "'link': symlink targets differ ('a' / 'b')",
      "'share/doc/x.txt': contents differ at line 2 ('two' / '2')",
    ]);
  });

  it('stops after the limit', async () => {
    const a: Tree = {};
    const b: Tree = {};
    for (let i = 0; i < 30; i++) {
      a[`f${String(i).padStart(2, '0')}`] = `a${i}`;
      b[`f${String(i).padStart(2, '0')}`] = `b${i}`;
    }
    trees(a, b);
    const all = await describeDifferences(first, second, 100);
    assert.equal(all.length, 30);
    assert.deepEqual(await describeDifferences(first, second), all.slice(0, 10));
    assert.deepEqual(await describeDifferences(first, second, 3), [
      "'f00': contents differ at line 1 ('a0' / 'b0')",
      "'f01': contents differ at line 1 ('a1' / 'b1')",
      "'f02': contents differ at line 1 ('a2' / 'b2')",
    ]);
  });

  it('says which build has more lines, and gives sizes for binary files', async () => {
    trees(
      { text: 'a\nb\n', binary: Buffer.from([0, 1, 2, 3]), newline: 'a\nb' },
      { text: 'a\nb\nc\n', binary: Buffer.from([0, 1, 2, 4, 5]), newline: 'a\nb\n' },
    );
    assert.deepEqual(await describeDifferences(first, second), [
      "'binary': contents differ (4 / 5 bytes)",
      "'newline': contents differ (3 / 4 bytes)",
      "'text': contents differ: the second build has more lines, from line 3 ('c')",
    ]);
  });

  it('compares large files chunk by chunk and finds a difference at the end', async () => {
    const big = Buffer.alloc(300_000, 0x41);
    const changed = Buffer.from(big);
    changed[changed.length - 1] = 0x42;
    trees({ same: big, changed: big }, { same: Buffer.from(big), changed });
    assert.deepEqual(await describeDifferences(first, second), ["'changed': contents differ"]);
  });

  it('never follows symlinks: two links to different directories differ only in their targets', async () => {
    mkdirSync(scratch, { recursive: true });
    build(join(scratch, 'dirA'), { f: '1' });
    build(join(scratch, 'dirB'), { f: '2' });
    trees({ to: { link: join(scratch, 'dirA') } }, { to: { link: join(scratch, 'dirB') } });
    const lines = await describeDifferences(first, second);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^'to': symlink targets differ \('.*\/dirA' \/ '.*\/dirB'\)$/);
  });

  it('describes outputs that are single files or of different kinds at the top', async () => {
    trees({ exec: 'x' }, 'x');
    assert.deepEqual(await describeDifferences(first, second), ["'.': executable bit differs"]);
    removeTree(first);
    removeTree(second);
    trees({}, { link: 'x' });
    assert.deepEqual(await describeDifferences(first, second), ["'.': a directory in the first build, a symlink in the second"]);
  });

  it('keeps a difference on one line even when the line or name holds control characters', async () => {
    trees({ 'a\nb': 'x\ty' }, { 'a\nb': 'x\ry' });
    const lines = await describeDifferences(first, second);
    assert.equal(lines.length, 1);
    assert.ok(!lines[0]!.includes('\n') && !lines[0]!.includes('\r'), lines[0]);
  });
});
