import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deletePathSync } from '../../../src/store/deletePath.js';
import { tempDir } from '../../support/cli.js';

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
});
