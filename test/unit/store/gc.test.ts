/**
 * The collector's protocol from the inside: a temp root announced on the roots socket while
 * a collection runs is kept with what it refers to, and bytes are counted as nix counts them.
 */
import assert from 'node:assert/strict';
import { existsSync, linkSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPathToStore } from '../../../src/store/addToStore.js';
import { deletePathSync, deleteTrustedTreeSync } from '../../../src/store/deletePath.js';
import { collectGarbage } from '../../../src/store/gc.js';
import { LocalStore } from '../../../src/store/localStore.js';
import { isValidPath } from '../../../src/store/queryPathInfo.js';
import { Settings } from '../../../src/store/settings.js';
import { tempDir } from '../../support/cli.js';

describe('garbage collector', function () {
  this.timeout(30000);

  it('keeps a path whose temp root arrives through the socket while it runs, and deletes the rest', async () => {
    const root = tempDir();
    const store = await LocalStore.open({ root, settings: new Settings() });
    try {
      const src = tempDir();
      writeFileSync(join(src, 'announced'), 'announced\n');
      writeFileSync(join(src, 'garbage'), 'garbage\n');
      const announced = await addPathToStore(store, join(src, 'announced'), { method: 'recursive', algo: 'sha256' });
      const garbage = await addPathToStore(store, join(src, 'garbage'), { method: 'recursive', algo: 'sha256' });
      // Adding made both temp roots of this process: a fresh store handle has none yet.
      await store.close();
      const fresh = await LocalStore.open({ root, settings: new Settings() });
      let announcedDuring = false;
      const results = await collectGarbage(fresh, {
        action: 'delete-dead',
        beforeDeleting: async () => {
          // The collector holds the GC lock: this can only get through on its socket.
          await fresh.addTempRoot(announced);
          announcedDuring = true;
        },
      });
      assert.ok(announcedDuring);
      assert.ok(isValidPath(fresh.db, announced));
      assert.ok(existsSync(join(root, announced)));
      assert.equal(isValidPath(fresh.db, garbage), false);
      assert.deepEqual(results.paths, [garbage]);
      await fresh.close();
    } finally {
      await store.close().catch(() => undefined);
    }
  });

  for (const [name, remove] of [['deletePathSync', deletePathSync], ['deleteTrustedTreeSync', deleteTrustedTreeSync]] as const) {
    it(`${name} counts bytes as nix 2.8: files with at most one other link (their .links entry), not directories`, () => {
      const dir = tempDir();
      const tree = join(dir, 'tree');
      mkdirSync(join(tree, 'sub'), { recursive: true });
      writeFileSync(join(tree, 'sub', 'a'), Buffer.alloc(1000));
      writeFileSync(join(tree, 'optimised'), Buffer.alloc(300));
      linkSync(join(tree, 'optimised'), join(dir, 'links-entry'));
      writeFileSync(join(tree, 'shared'), Buffer.alloc(500));
      linkSync(join(tree, 'shared'), join(dir, 'elsewhere'));
      linkSync(join(tree, 'shared'), join(dir, 'elsewhere-too'));
      assert.equal(remove(tree), 1300);
      assert.equal(existsSync(tree), false);
      assert.equal(existsSync(join(dir, 'elsewhere')), true);
    });
  }
});
