/** What `--add` leaves in the store: canonical metadata, as Nix's store paths have. */
import assert from 'node:assert/strict';
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, tsnixStoreOk } from '../support/cli.js';
import { unpackTrees } from '../support/trees.js';

function walk(path: string, visit: (path: string) => void): void {
  visit(path);
  const st = lstatSync(path);
  if (st.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name), visit);
}

describe('tsnix-store --add', () => {
  it('gives every entry mtime 1, modes 0444/0555, and the owner of the store', async () => {
    const trees = unpackTrees();
    const root = tempDir();
    const path = (await tsnixStoreOk(['--store', root, '--add', join(trees, '06-tree')])).trim();
    let seen = 0;
    walk(join(root, path), (entry) => {
      const st = lstatSync(entry);
      seen++;
      assert.equal(st.mtimeMs, 1000, `mtime of ${entry}`);
      assert.equal(st.uid, process.getuid!(), `owner of ${entry}`);
      if (st.isSymbolicLink()) return;
      const mode = st.mode & 0o7777;
      if (st.isDirectory()) assert.equal(mode, 0o555, `mode of ${entry}`);
      else assert.ok(mode === 0o444 || mode === 0o555, `mode of ${entry} is ${mode.toString(8)}`);
    });
    assert.equal(seen, 9); // the root, 3 directories, 4 files, 1 symlink
  });

  it('adds several paths in argument order, the same paths as one at a time', async () => {
    const trees = unpackTrees();
    const names = ['08-binary', '01-regular.txt', '06-tree', '03-symlink'];
    const together = await tsnixStoreOk(['--store', tempDir(), '--add', ...names.map((n) => join(trees, n))]);
    const root = tempDir();
    let oneByOne = '';
    for (const n of names) oneByOne += await tsnixStoreOk(['--store', root, '--add', join(trees, n)]);
    assert.equal(together, oneByOne);
    assert.equal(together.trim().split('\n').length, 4);
  });
});
