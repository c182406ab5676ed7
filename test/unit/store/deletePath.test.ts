import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { deletePathSync, deleteTrustedTreeSync } from '../../../src/store/deletePath.js';
import { fileIo, useFileIo } from '../../../src/store/fileIo.js';
import { compiledModule } from '../../../src/packagePaths.js';
import { tempDir } from '../../support/cli.js';

/** A tree of read-only directories with files of known sizes (one hard-linked twice), and a symlink out. */
function sizedTree(dir: string, canary: string): { tree: string; bytes: number } {
  const tree = join(dir, 'sized');
  mkdirSync(join(tree, 'a', 'b'), { recursive: true });
  writeFileSync(join(tree, 'a', 'b', 'f'), 'x'.repeat(100));
  writeFileSync(join(tree, 'g'), 'y'.repeat(10));
  // Three links in all: nix counts such a file as not freed.
  writeFileSync(join(tree, 'shared'), 'z'.repeat(1000));
  execFileSync('ln', [join(tree, 'shared'), join(dir, 'shared-1')]);
  execFileSync('ln', [join(tree, 'shared'), join(dir, 'shared-2')]);
  symlinkSync(canary, join(tree, 'a', 'out'));
  for (const d of [join(tree, 'a', 'b'), join(tree, 'a'), tree]) chmodSync(d, 0o555);
  return { tree, bytes: 100 + 10 + canary.length };
}

describe('deleting a tree', () => {
  it('removes read-only directories and files, and nothing a symlink in it points to', () => {
    const dir = tempDir();
    const canary = join(dir, 'canary');
    mkdirSync(canary);
    writeFileSync(join(canary, 'keep'), 'keep');
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'a', 'b'), { recursive: true });
    writeFileSync(join(tree, 'a', 'b', 'f'), 'x');
    symlinkSync(canary, join(tree, 'a', 'to-canary'));
    symlinkSync(join(canary, 'keep'), join(tree, 'to-file'));
    for (const d of [join(tree, 'a', 'b'), join(tree, 'a'), tree]) chmodSync(d, 0o555);
    chmodSync(canary, 0o555);
    deletePathSync(tree);
    assert.equal(existsSync(tree), false);
    assert.deepEqual(readdirSync(canary), ['keep']);
  });
  it('removes a symlink given as the path itself, not its target', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'target'));
    writeFileSync(join(dir, 'target', 'f'), 'f');
    symlinkSync(join(dir, 'target'), join(dir, 'link'));
    deletePathSync(join(dir, 'link'));
    assert.deepEqual(readdirSync(dir), ['target']);
    assert.deepEqual(readdirSync(join(dir, 'target')), ['f']);
  });
  it('does nothing for a path that does not exist', () => deletePathSync('/nonexistent/tsnix/path'));
  it('removes names that are not UTF-8', () => {
    const dir = tempDir();
    const tree = join(dir, 'tree');
    mkdirSync(tree);
    writeFileSync(Buffer.concat([Buffer.from(tree + '/'), Buffer.from([0xff, 0xfe])]), 'x');
    deletePathSync(tree);
    assert.equal(existsSync(tree), false);
  });

  it('counts the bytes freed as nix does, with the file addon and without it, trusted or not', () => {
    assert.ok(fileIo(), 'addon-c/file-io.node is not built');
    for (const [addon, remove] of [
      [true, deletePathSync],
      [true, deleteTrustedTreeSync],
      [false, deletePathSync],
      [false, deleteTrustedTreeSync],
    ] as const) {
      const dir = tempDir();
      const canary = join(dir, 'canary');
      mkdirSync(canary);
      const { tree, bytes } = sizedTree(dir, canary);
      useFileIo(addon);
      try {
        assert.equal(remove(tree), bytes, `addon ${addon}, ${remove.name}`);
      } finally {
        useFileIo(true);
      }
      assert.equal(existsSync(tree), false);
      assert.ok(existsSync(canary));
    }
  });
  it('removes a tree deeper than the addon goes (it stops, the rest is removed in Node), counting every file', () => {
    const dir = tempDir();
    let path = join(dir, 'deep');
    const tree = path;
    for (let i = 0; i < 300; i++) {
      path = join(path, 'd');
      mkdirSync(path, { recursive: true });
      writeFileSync(join(path, 'f'), 'x');
    }
    assert.equal(deletePathSync(tree), 300);
    assert.equal(existsSync(tree), false);
  });
  it('removes a read-only tree of its own as a user that is not root', function () {
    if (process.getuid?.() !== 0) this.skip();
    const dir = tempDir();
    chmodSync(dir, 0o777);
    const tree = join(dir, 'tree');
    // Made by nobody, read-only: removing from it is refused until it is made writable.
    const script = `
      import { deletePathSync } from ${JSON.stringify(compiledModule('store/deletePath.js').href)};
      import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
      mkdirSync(${JSON.stringify(join(tree, 'a'))}, { recursive: true });
      writeFileSync(${JSON.stringify(join(tree, 'a', 'f'))}, 'x');
      chmodSync(${JSON.stringify(join(tree, 'a'))}, 0o555);
      chmodSync(${JSON.stringify(tree)}, 0o555);
      process.stdout.write(String(deletePathSync(${JSON.stringify(tree)})));
      // A tree in a read-only directory cannot go: that directory is not the tree's to change.
      mkdirSync(${JSON.stringify(join(dir, 'locked', 'inner'))}, { recursive: true });
      chmodSync(${JSON.stringify(join(dir, 'locked'))}, 0o555);
      try {
        deletePathSync(${JSON.stringify(join(dir, 'locked', 'inner'))});
        process.stdout.write(' removed');
      } catch (e) {
        process.stdout.write(' ' + e.code);
      }
    `;
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(out, '1 EACCES');
    assert.equal(existsSync(tree), false);
    assert.equal(statSync(join(dir, 'locked')).mode & 0o777, 0o555);
    assert.ok(existsSync(join(dir, 'locked', 'inner')));
  });
});
