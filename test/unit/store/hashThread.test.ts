import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ThreadedSha256 } from '../../../src/store/hashThread.js';

describe('sha256 on another thread', () => {
  for (const size of [0, 1, 4096, (8 << 20) - 1, 8 << 20, (8 << 20) + 1, 3 * (1 << 20) * 8 + 12345]) {
    it(`gives the same hash and size as createHash for ${size} bytes fed in uneven pieces`, async () => {
      const data = randomBytes(size);
      const hasher = new ThreadedSha256();
      for (let at = 0, step = 1; at < size; at += step, step = (step * 7 + 3) % (3 << 20)) hasher.update(data.subarray(at, Math.min(size, at + step)));
      const hash = await hasher.finish();
      assert.equal(hash.toBase16(), createHash('sha256').update(data).digest('hex'));
      assert.equal(hasher.size, size);
    });
  }
  it('hashes ranges of an open file in their place among the bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsnix-hash-'));
    const file = join(dir, 'file');
    const contents = randomBytes(5 * (1 << 20) + 777);
    writeFileSync(file, contents);
    const fd = openSync(file, 'r');
    try {
      const before = randomBytes(100);
      const after = randomBytes(9 << 20);
      const hasher = new ThreadedSha256();
      hasher.update(before);
      hasher.updateFromFile(fd, 0, 3 << 20);
      hasher.updateFromFile(fd, 3 << 20, contents.length - (3 << 20));
      hasher.drain();
      hasher.update(after);
      const hash = await hasher.finish();
      assert.equal(hash.toBase16(), createHash('sha256').update(before).update(contents).update(after).digest('hex'));
      assert.equal(hasher.size, before.length + contents.length + after.length);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true });
    }
  });

  it('fails, without hanging a drain, when a range is past the end of its file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsnix-hash-'));
    writeFileSync(join(dir, 'short'), 'short');
    const fd = openSync(join(dir, 'short'), 'r');
    try {
      const hasher = new ThreadedSha256();
      hasher.updateFromFile(fd, 0, 100);
      hasher.drain();
      await assert.rejects(hasher.finish(), /ended 95 bytes early/);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true });
    }
  });

  it('lets the process go on after an abort (no thread left waiting)', async () => {
    const hasher = new ThreadedSha256();
    hasher.update(Buffer.alloc(20 << 20));
    await hasher.abort();
  });
});
