import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeNar } from '../../../src/format/nar/index.js';
import { dumpPath, NarDumpError, type DumpPathOptions } from '../../../src/store/nar/index.js';
import { SubtreeHelper } from '../../../src/store/nar/subtreeHelper.js';
import { buildTree, collect, removeTree, tempDir } from './narFixtures.js';

/** Dumps slowly at first, so that the helper thread is running before most of the tree is done. */
async function dumpWithHelper(path: string, extra: DumpPathOptions = {}): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of dumpPath(path, { threads: 1, helperAfterEntries: 0, chunkSize: 16384, ...extra })) {
    parts.push(Buffer.from(chunk));
    if (parts.length <= 20) await sleep(25);
  }
  return Buffer.concat(parts);
}

describe('dumpPath with a helper thread (large trees)', () => {
  let scratch: string;
  before(() => {
    scratch = tempDir();
  });
  after(() => removeTree(scratch));

  it('gives exactly the same NAR as dumping on one thread, with the helper doing part of it', async () => {
    const root = join(scratch, 'wide');
    const expected = encodeNar(buildTree(root, 60));
    assert.deepEqual(await collect(dumpPath(root, { threads: 0 })), expected);
    const before = SubtreeHelper.fragmentsDelivered;
    assert.deepEqual(await dumpWithHelper(root), expected);
    assert.ok(SubtreeHelper.fragmentsDelivered > before, 'the helper thread dumped no subtree');
    assert.deepEqual(await dumpWithHelper(root, { reuseChunks: true }), expected);
  });

  it('gives the same NAR for a tree nested in one big directory', async () => {
    const root = join(scratch, 'nested');
    mkdirSync(root);
    const inner = buildTree(join(root, 'only'), 40);
    const expected = encodeNar({ type: 'directory', entries: [{ name: Buffer.from('only'), node: inner }] });
    assert.deepEqual(await dumpWithHelper(root), expected);
  });

  it('reports an unsupported file found by the helper with its path', async () => {
    const root = join(scratch, 'fifo');
    buildTree(root, 40);
    for (let d = 0; d < 40; d += 3) execFileSync('mkfifo', [join(root, `d${String(d).padStart(3, '0')}`, 'sub', 'pipe')]);
    await assert.rejects(dumpWithHelper(root), (err: Error) => err instanceof NarDumpError && /^file '.*\/d\d{3}\/sub\/pipe' has an unsupported type$/.test(err.message));
  });

  it('lets a consumer stop early without leaving the helper behind', async () => {
    const root = join(scratch, 'wide');
    let chunks = 0;
    for await (const chunk of dumpPath(root, { threads: 1, helperAfterEntries: 0, chunkSize: 16384 })) {
      void chunk;
      if (++chunks === 3) break;
    }
    assert.equal(chunks, 3);
    assert.ok((await collect(dumpPath(root, { threads: 1, helperAfterEntries: 0 }))).length > 0);
  });
});
