import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
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
  it('lets the process go on after an abort (no thread left waiting)', async () => {
    const hasher = new ThreadedSha256();
    hasher.update(Buffer.alloc(20 << 20));
    await hasher.abort();
  });
});
